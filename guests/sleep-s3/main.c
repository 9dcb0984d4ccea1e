/* sleep-s3: suspends the machine to RAM (ACPI S3) and wakes on the RTC alarm, as
 * kvm-unit-tests' s3 does, then checks in real mode what the wake left. It finds the
 * \_S3_ package in the DSDT and the FACS through the FADT, starts every other CPU (each
 * spins until power goes), copies a real-mode stub to 0x1000 and puts that address in the
 * FACS's Firmware_Waking_Vector, sets RTC_EN in PM1 enable, sets the RTC alarm to every
 * second (don't-care bytes) with AIE just after an update, prints "sleep-s3: suspending"
 * and writes SLP_TYP | SLP_EN to PM1a control (ACPI 6.5 §16.1.3, §4.8.3).
 * The stub exits through port 0xF4: v=0 when CS = 0x100 (vector >> 4), IP started at 0,
 * DS = SS = 0 and PM1 status reads WAK_STS | RTC_STS; v=5 bad CS, 6 bad DS or SS, 7 bad
 * PM1 status. If the write returns, "sleep-s3: still running" and v=1. */
#include "guest.h"
#include "acpi_sleep.h"
#include "lapic.h"
#include "smp.h"
#include "tsc.h"
#include "rtc.h"

#define RESUME_PHYS 0x1000u
#define PM1_PORT_PHYS 0x0FF0u        /* the stub reads the PM1a event port here (DS = 0) */

extern const uint8_t resume_start[], resume_end[];
__asm__(
    ".pushsection .text\n"
    ".code16\n"
    "resume_start:\n"
    "    mov %cs, %ax\n"
    "    cmp $0x100, %ax\n"
    "    jne 1f\n"
    "    mov %ds, %ax\n"
    "    mov %ss, %bx\n"
    "    or %bx, %ax\n"
    "    jnz 2f\n"
    "    mov 0x0FF0, %dx\n"              /* PM1_PORT_PHYS */
    "    in %dx, %ax\n"
    "    cmp $0x8400, %ax\n"             /* WAK_STS | RTC_STS */
    "    jne 3f\n"
    "    mov $0, %al\n"
    "    jmp 9f\n"
    "1:  mov $5, %al\n"
    "    jmp 9f\n"
    "2:  mov $6, %al\n"
    "    jmp 9f\n"
    "3:  mov $7, %al\n"
    "9:  out %al, $0xF4\n"
    "8:  hlt\n"
    "    jmp 8b\n"
    "resume_end:\n"
    ".code64\n"
    ".popsection\n");

static void spin(struct cpu *c) {
    (void)c;
    for (;;) cpu_pause();
}

int main(void) {
    const struct acpi_fadt *fadt = (const struct acpi_fadt *)acpi_find_table("FACP");
    if (!fadt) { printf("sleep-s3: no FADT\n"); return EXIT_FAIL; }
    const struct acpi_sdt *dsdt = acpi_table_at(fadt->dsdt);
    struct acpi_sleep_type s3;
    if (!dsdt || acpi_find_sleep_type(dsdt, "_S3_", &s3) != 0) { printf("sleep-s3: no \\_S3_ in the DSDT\n"); return EXIT_FAIL; }
    struct acpi_facs *facs = (struct acpi_facs *)(uintptr_t)fadt->firmware_ctrl;
    if (!facs || memcmp(facs->signature, "FACS", 4) != 0) { printf("sleep-s3: no FACS\n"); return EXIT_FAIL; }

    lapic_init(0);
    uint32_t ids[16];
    int n = acpi_madt_cpus(ids, 16);
    if (n > 1) smp_start_aps(ids, n, spin, 100000);
    printf("sleep-s3: %u CPUs, SLP_TYP %u\n", smp_online(), s3.slp_typa);

    memcpy((void *)(uintptr_t)RESUME_PHYS, resume_start, (size_t)(resume_end - resume_start));
    *(volatile uint16_t *)(uintptr_t)PM1_PORT_PHYS = (uint16_t)fadt->pm1a_evt_blk;
    facs->firmware_waking_vector = RESUME_PHYS;
    outw((uint16_t)(fadt->pm1a_evt_blk + 2), PM1_RTC_STS);         /* RTC_EN */

    while (!(rtc_in(RTC_REG_A) & RTC_A_UIP)) cpu_relax();           /* an update is near */
    while (rtc_in(RTC_REG_A) & RTC_A_UIP) cpu_relax();              /* and done */
    rtc_in(RTC_REG_C);
    rtc_out(RTC_SECONDS_ALARM, RTC_ALARM_ANY);
    rtc_out(RTC_MINUTES_ALARM, RTC_ALARM_ANY);
    rtc_out(RTC_HOURS_ALARM, RTC_ALARM_ANY);
    rtc_out(RTC_REG_B, rtc_in(RTC_REG_B) | RTC_B_AIE);

    printf("sleep-s3: suspending\n");
    acpi_enter_sleep(fadt, &s3);
    printf("sleep-s3: still running\n");
    return EXIT_FAIL;
}
