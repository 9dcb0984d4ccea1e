/* hihalf-smp: the shape of a real multicore PC kernel booted without firmware.
 * A multiboot 2 kernel with only the END tag, an ELF64 file linked in the higher half
 * (guest.ld, entry.S). The boot CPU:
 *   1. finds the RSDP by scanning 0xE0000-0xFFFFF (ACPI 6.5 §5.2.5.1) and reads ONLY the
 *      RSDT (never the XSDT), as kernels written for ACPI 1.0 do: MADT (the CPU list:
 *      enabled Processor Local APIC entries), FADT and HPET;
 *   2. calibrates the TSC with the HPET through the 8259A and LINT0 (calibrate.c);
 *   3. reads MSR_PLATFORM_INFO (0xCE, SDM Vol. 4 chapter 2: maximum non-turbo ratio in bits
 *      15:8, in 100 MHz units) and checks it against the calibration;
 *   4. starts the APs one at a time through the trampoline at 0x70000 with the CMOS
 *      warm-reset sequence, each printing its own line from the higher half (ap_boot.c);
 *   5. prints its final line and powers off through ACPI S5: PM1a_CNT_BLK from the FADT,
 *      SLP_TYPa from the DSDT's \_S5_ package (acpi_sleep.c).
 * Prints (each on its own line, "hihalf-smp: " first):
 *   higher half: main at 0x<addr>, multiboot 2 magic ok
 *   RSDP 0x<a> rev <r>, RSDT 0x<a> with <n> tables (XSDT not read)
 *   MADT: <n> CPUs, APIC IDs <ids>
 *   TSC <khz> kHz against the HPET over <n> IRQ0 ticks via 8259A -> LINT0 ExtINT (<us> us, attempts <n>)
 *   MSR_PLATFORM_INFO 0x<v>: ratio <r> (<r>00 MHz)
 *   AP <i> (APIC ID <id>) up: long mode on, rip 0x<high>, cr3 0x<cr3>      (each AP)
 *   AP <i> checked in after <n> SIPI(s)                                      (the BSP)
 *   all <n> CPUs online; powering off via ACPI S5 (PM1a_CNT 0x<port>, SLP_TYPa <t>)
 * Then exit status 0 (ACPI power-off). On a failure: "hihalf-smp: FAIL <reason>" and v=3
 * (status 7); watchdog: v=4. */
#include "guest.h"
#include "acpi.h"
#include "acpi_sleep.h"
#include "ap_boot.h"
#include "calibrate.h"
#include "cpu.h"
#include "lapic.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4
#define KERNEL_VMA     0xFFFFFFFF80000000ull
#define MB2_BOOT_MAGIC 0x36D76289u
#define AP_WAIT_MS     5000

static int fail(const char *reason) {
    printf("hihalf-smp: FAIL %s\n", reason);
    return EXIT_TEST_FAIL;
}

/* The HPET's registers from its ACPI table (IA-PC HPET 1.0a §3.2.4: the base address's
 * Generic Address Structure at byte 40, its 64-bit address at byte 44). */
static uint64_t hpet_base(const struct acpi_sdt *hpet) {
    uint64_t a = 0;
    if (hpet->length >= 52) memcpy(&a, (const uint8_t *)hpet + 44, 8);
    return a;
}

int main(void) {
    watchdog_arm(30, EXIT_TIMEOUT, "hihalf-smp: FAIL watchdog: no progress for 30 s");
    char why[160];
    printf("hihalf-smp: higher half: main at 0x%lx, multiboot 2 magic %s\n", (uint64_t)(uintptr_t)main,
           boot_magic == MB2_BOOT_MAGIC ? "ok" : "WRONG");
    if ((uint64_t)(uintptr_t)main < KERNEL_VMA || boot_magic != MB2_BOOT_MAGIC)
        return fail("not running in the higher half from a multiboot 2 entry");

    const struct acpi_rsdp *rsdp = acpi_find_rsdp();
    if (!rsdp) return fail("no valid RSDP in 0xE0000-0xFFFFF");
    const struct acpi_sdt *rsdt = acpi_table_at(rsdp->rsdt_address);
    if (!rsdt || memcmp(rsdt->signature, "RSDT", 4) != 0) return fail("RSDP's RSDT address holds no valid RSDT");
    printf("hihalf-smp: RSDP 0x%lx rev %u, RSDT 0x%x with %u tables (XSDT not read)\n",
           (uint64_t)(uintptr_t)rsdp, rsdp->revision, rsdp->rsdt_address, acpi_root_count(rsdt));
    const struct acpi_sdt *madt = acpi_root_find(rsdt, "APIC");
    const struct acpi_fadt *fadt = (const struct acpi_fadt *)acpi_root_find(rsdt, "FACP");
    const struct acpi_sdt *hpet = acpi_root_find(rsdt, "HPET");
    if (!madt || !fadt || !hpet) return fail("the RSDT lacks a valid MADT, FADT or HPET table");

    static uint32_t apic_ids[MAX_CPUS];
    int ncpus = acpi_madt_cpus_in(madt, apic_ids, MAX_CPUS);
    if (ncpus < 1 || ncpus > MAX_CPUS) return fail("MADT lists no usable CPU count");
    printf("hihalf-smp: MADT: %d CPUs, APIC IDs", ncpus);
    for (int i = 0; i < ncpus; i++) printf(" %u", apic_ids[i]);
    printf("\n");

    cli();
    lapic_init(0);
    struct calibration cal;
    if (calibrate_tsc(hpet_base(hpet), &cal, why, sizeof(why)) != 0) return fail(why);
    printf("hihalf-smp: TSC %lu kHz against the HPET over %u IRQ0 ticks via 8259A -> LINT0 ExtINT "
           "(%lu us, attempts %d)\n", cal.tsc_per_ms, cal.ticks, cal.span_us, cal.attempts);

    uint64_t platform_info = rdmsr(MSR_PLATFORM_INFO);
    uint32_t ratio = (uint32_t)(platform_info >> 8) & 0xFF;
    printf("hihalf-smp: MSR_PLATFORM_INFO 0x%lx: ratio %u (%u MHz)\n", platform_info, ratio, ratio * 100);
    long mhz = (long)(cal.tsc_per_ms / 1000);
    long off = (long)ratio * 100 - mhz;
    if (ratio == 0 || off > 150 || off < -150) {
        snprintf(why, sizeof(why), "MSR_PLATFORM_INFO ratio %u disagrees with the calibrated %ld MHz", ratio, mhz);
        return fail(why);
    }

    uint32_t self = lapic_id();
    cpus[0].apic_id = self;
    ap_boot_prepare();
    uint32_t index = 1;
    for (int i = 0; i < ncpus; i++) {
        if (apic_ids[i] == self) continue;
        int sipis = ap_boot_start(apic_ids[i], index, cal.tsc_per_ms, AP_WAIT_MS);
        if (!sipis) {
            snprintf(why, sizeof(why), "AP with APIC ID %u did not check in within %u ms", apic_ids[i], AP_WAIT_MS);
            return fail(why);
        }
        printf("hihalf-smp: AP %u checked in after %d SIPI%s\n", index, sipis, sipis == 1 ? "" : "s");
        index++;
    }
    ap_boot_finish();
    if (ap_boot_failures()) return fail("an AP came up outside long mode or the higher half");

    struct acpi_sleep_type s5;
    const struct acpi_sdt *dsdt = acpi_table_at(fadt->dsdt);
    if (!dsdt || memcmp(dsdt->signature, "DSDT", 4) != 0) return fail("the FADT's DSDT address holds no valid DSDT");
    if (acpi_find_sleep_type(dsdt, "_S5_", &s5) != 0) return fail("no \\_S5_ package in the DSDT: cannot power off through ACPI");
    if (!fadt->pm1a_cnt_blk) return fail("the FADT has no PM1a_CNT_BLK");
    printf("hihalf-smp: all %u CPUs online; powering off via ACPI S5 (PM1a_CNT 0x%x, SLP_TYPa %u)\n", index,
           fadt->pm1a_cnt_blk, s5.slp_typa);
    acpi_enter_sleep(fadt, &s5);
    delay_us(1000000);
    return fail("still running 1 s after the S5 request");
}
