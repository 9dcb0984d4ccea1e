/* acpi-walker: validates every ACPI structure the VMM provides, as a strict OS would, then
 * powers off through ACPI S5. Multiboot 2, one CPU.
 *   RSDP (ACPI 6.5 §5.2.5): found by scanning 0xE0000-0xFFFFF; revision >= 2, length 36,
 *     the 20-byte checksum and the 36-byte extended checksum.
 *   RSDT (§5.2.7) and XSDT (§5.2.8): signature, length, checksum; both list the same
 *     tables in the same order; every table each points to below 4 GiB.
 *   Every listed table: signature, length, checksum, and per signature:
 *     FACP (§5.2.9): length for its revision; DSDT / X_DSDT and FIRMWARE_CTRL /
 *       X_FIRMWARE_CTRL agree where both are set; PM1a event/control blocks and lengths,
 *       their X_ forms; PM timer length; reset register if RESET_REG_SUP; SCI_EN reads 1
 *       in PM1a control when SMI_CMD = 0 (ACPI already enabled, §4.8.3.2.1).
 *     DSDT (§5.2.11.1, through the FADT): header and checksum; \_S5_ found by a byte scan.
 *     FACS (§5.2.10, through the FADT): signature, length >= 64, 64-byte aligned (no
 *       checksum).
 *     APIC (§5.2.12): entries exactly fill the table, each with its type's length; enabled
 *       local APICs with unique APIC IDs; at least one I/O APIC; overrides on the ISA bus;
 *       local APIC NMI on LINT0 or LINT1.
 *     HPET (IA-PC HPET 1.0a §3.2.4): memory-space base; the Event Timer Block ID equals
 *       the low 32 bits of the HPET's GCAP_ID register.
 * Prints one line per structure ("acpi-walker: <SIG> 0x<addr>: ..."), a line per problem
 * ("acpi-walker: FAIL <what>"), then either
 *   acpi-walker: PASS <n> structures valid; powering off via ACPI S5 (...)   (status 0)
 * or "acpi-walker: FAIL <n> problems" (v=3, status 7). */
#include "guest.h"
#include "acpi.h"
#include "acpi_sleep.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3
#define LIMIT_4G       0x100000000ull
#define MAX_TABLES     32

static int problems, structures;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...) {
    char line[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printf("acpi-walker: FAIL %s\n", line);
    problems++;
}

/* The common header checks (§5.2.6). Returns the table if it can be read further. */
static const struct acpi_sdt *check_header(uint64_t addr, const char *expected, uint32_t min_length) {
    const char *name = expected ? expected : "table";
    if (addr == 0 || addr + sizeof(struct acpi_sdt) > LIMIT_4G) {
        problem("%s address 0x%lx is null or above 4 GiB", name, addr);
        return 0;
    }
    const struct acpi_sdt *t = (const struct acpi_sdt *)(uintptr_t)addr;
    if (expected && memcmp(t->signature, expected, 4) != 0) {
        problem("%s at 0x%lx has signature \"%.4s\"", expected, addr, t->signature);
        return 0;
    }
    if (t->length < min_length || t->length > 0x100000 || addr + t->length > LIMIT_4G) {
        problem("%.4s at 0x%lx has length %u (at least %u, below 4 GiB)", t->signature, addr, t->length, min_length);
        return 0;
    }
    if (!acpi_checksum_ok(t, t->length)) {
        problem("%.4s at 0x%lx: checksum does not sum to 0", t->signature, addr);
        return 0;
    }
    structures++;
    return t;
}

static void print_header(const struct acpi_sdt *t, const char *details) {
    printf("acpi-walker: %.4s 0x%lx: length %u, rev %u, checksum ok, OEM \"%.6s\"%s%s\n", t->signature,
           (uint64_t)(uintptr_t)t, t->length, t->revision, t->oem_id, details[0] ? "; " : "", details);
}

static const struct acpi_rsdp *check_rsdp(void) {
    const struct acpi_rsdp *r = acpi_find_rsdp(); /* only returns one whose checksums hold */
    if (!r) {
        problem("no RSDP with valid checksums on a 16-byte boundary in 0xE0000-0xFFFFF");
        return 0;
    }
    if (r->revision < 2 || r->length < 36) {
        problem("RSDP revision %u length %u: not an ACPI 2.0+ RSDP", r->revision, r->length);
        return 0;
    }
    structures++;
    printf("acpi-walker: RSDP 0x%lx: rev %u, length %u, checksum ok, extended checksum ok, OEM \"%.6s\", "
           "RSDT 0x%x, XSDT 0x%lx\n", (uint64_t)(uintptr_t)r, r->revision, r->length, r->oem_id,
           r->rsdt_address, r->xsdt_address);
    return r;
}

/* ---------------------------------------------------------------- FADT, DSDT, FACS */
static void check_dsdt(uint64_t addr, struct acpi_sleep_type *s5, int *have_s5) {
    const struct acpi_sdt *dsdt = check_header(addr, "DSDT", sizeof(struct acpi_sdt));
    if (!dsdt) return;
    char details[96];
    if (acpi_find_sleep_type(dsdt, "_S5_", s5) == 0) {
        *have_s5 = 1;
        snprintf(details, sizeof(details), "\\_S5_ at offset %u: SLP_TYPa %u, SLP_TYPb %u", s5->offset,
                 s5->slp_typa, s5->slp_typb);
    } else {
        snprintf(details, sizeof(details), "no \\_S5_ package");
    }
    print_header(dsdt, details);
    if (!*have_s5) problem("no Name (_S5_, Package () {...}) in the DSDT's %u bytes of AML", dsdt->length - 36);
}

static void check_facs(uint64_t addr) {
    if (addr == 0 || addr + sizeof(struct acpi_facs) > LIMIT_4G) {
        problem("FACS address 0x%lx is null or above 4 GiB", addr);
        return;
    }
    const struct acpi_facs *f = (const struct acpi_facs *)(uintptr_t)addr;
    if (memcmp(f->signature, "FACS", 4) != 0) {
        problem("FACS at 0x%lx has signature \"%.4s\"", addr, f->signature);
        return;
    }
    if (f->length < 64) problem("FACS length %u (at least 64)", f->length);
    if (addr & 63) problem("FACS at 0x%lx is not 64-byte aligned", addr);
    structures++;
    printf("acpi-walker: FACS 0x%lx: length %u, version %u, 64-byte aligned (no checksum by design)\n", addr,
           f->length, f->version);
}

/* A fixed-hardware block given twice: as a 32-bit port and as an X_ Generic Address. */
static void check_block(const char *name, uint32_t port, uint8_t len, uint8_t min_len, const struct acpi_gas *x,
                        int has_x) {
    if (!port) problem("FADT %s is 0", name);
    if (len < min_len) problem("FADT %s length %u (at least %u)", name, len, min_len);
    if (has_x && x->address && (x->space_id != 1 || x->address != port))
        problem("FADT X_%s (space %u, 0x%lx) disagrees with %s 0x%x", name, x->space_id, x->address, name, port);
}

static const struct acpi_fadt *check_fadt(const struct acpi_sdt *t, struct acpi_sleep_type *s5, int *have_s5) {
    const struct acpi_fadt *f = (const struct acpi_fadt *)t;
    uint32_t need = t->revision >= 3 ? 244 : FADT_ACPI1_LENGTH; /* ACPI 2.0 FADT: 244 bytes */
    if (t->length < need) {
        problem("FACP revision %u has length %u (at least %u)", t->revision, t->length, need);
        return 0;
    }
    int extended = t->length >= 244;
    uint64_t dsdt = f->dsdt, facs = f->firmware_ctrl;
    if (extended && f->x_dsdt) {
        if (f->dsdt && f->dsdt != f->x_dsdt) problem("FADT DSDT 0x%x and X_DSDT 0x%lx differ", f->dsdt, f->x_dsdt);
        dsdt = f->x_dsdt;
    }
    if (extended && f->x_firmware_ctrl) {
        if (f->firmware_ctrl && f->firmware_ctrl != f->x_firmware_ctrl)
            problem("FADT FIRMWARE_CTRL 0x%x and X_FIRMWARE_CTRL 0x%lx differ", f->firmware_ctrl, f->x_firmware_ctrl);
        facs = f->x_firmware_ctrl;
    }
    check_block("PM1a_EVT_BLK", f->pm1a_evt_blk, f->pm1_evt_len, 4, &f->x_pm1a_evt_blk, extended);
    check_block("PM1a_CNT_BLK", f->pm1a_cnt_blk, f->pm1_cnt_len, 2, &f->x_pm1a_cnt_blk, extended);
    if (f->pm_tmr_blk && f->pm_tmr_len != 4) problem("FADT PM_TMR_LEN %u (must be 4)", f->pm_tmr_len);
    if ((f->flags & FADT_RESET_REG_SUP) && (f->reset_reg.address == 0 || f->reset_reg.space_id > 1))
        problem("FADT claims RESET_REG_SUP but RESET_REG is space %u address 0x%lx", f->reset_reg.space_id,
                f->reset_reg.address);
    uint16_t pm1_cnt = f->pm1a_cnt_blk ? inw((uint16_t)f->pm1a_cnt_blk) : 0;
    int sci_en = pm1_cnt & PM1_SCI_EN;
    if (f->smi_cmd == 0 && !sci_en)
        problem("SMI_CMD is 0 (ACPI enabled) but PM1a control 0x%x has SCI_EN clear", pm1_cnt);

    char details[200];
    snprintf(details, sizeof(details),
             "PM1a_EVT 0x%x/%u, PM1a_CNT 0x%x/%u, PM_TMR 0x%x, SCI %u, SMI_CMD 0x%x, SCI_EN %d, "
             "reset %s 0x%lx <- 0x%x, "
             "DSDT 0x%lx, FACS 0x%lx",
             f->pm1a_evt_blk, f->pm1_evt_len, f->pm1a_cnt_blk, f->pm1_cnt_len, f->pm_tmr_blk, f->sci_int, f->smi_cmd,
             sci_en, f->reset_reg.space_id == 1 ? "port" : "mmio", f->reset_reg.address, f->reset_value, dsdt, facs);
    print_header(t, details);
    check_dsdt(dsdt, s5, have_s5);
    check_facs(facs);
    return f;
}

/* ---------------------------------------------------------------- MADT */
/* Interrupt controller structure lengths (§5.2.12, table 5.22 and the sections it cites). */
static int madt_entry_length(uint8_t type) {
    switch (type) {
    case 0: return 8;   /* Processor Local APIC */
    case 1: return 12;  /* I/O APIC */
    case 2: return 10;  /* Interrupt Source Override */
    case 3: return 8;   /* NMI Source */
    case 4: return 6;   /* Local APIC NMI */
    case 5: return 12;  /* Local APIC Address Override */
    case 9: return 16;  /* Processor Local x2APIC */
    case 10: return 12; /* Local x2APIC NMI */
    default: return 0;  /* not checked */
    }
}

static void check_madt(const struct acpi_sdt *t) {
    if (t->length < 44) {
        problem("APIC length %u (at least 44)", t->length);
        return;
    }
    const uint8_t *base = (const uint8_t *)t;
    uint32_t lapic_addr, flags;
    memcpy(&lapic_addr, base + 36, 4);
    memcpy(&flags, base + 40, 4);
    if (!lapic_addr) problem("MADT local APIC address is 0");
    uint32_t offset = 44, lapics = 0, enabled = 0, ioapics = 0, overrides = 0, nmis = 0, others = 0;
    uint8_t seen[256] = { 0 };
    while (offset < t->length) {
        const uint8_t *e = base + offset;
        if (offset + 2 > t->length || e[1] < 2 || offset + e[1] > t->length) {
            problem("MADT entry at offset %u (type %u, length %u) runs past the table's %u bytes", offset, e[0],
                    offset + 1 < t->length ? e[1] : 0, t->length);
            return;
        }
        int want = madt_entry_length(e[0]);
        if (want && e[1] != want)
            problem("MADT entry type %u at offset %u has length %u (must be %d)", e[0], offset, e[1], want);
        uint32_t u32;
        switch (e[0]) {
        case 0:
            lapics++;
            memcpy(&u32, e + 4, 4);
            if (u32 & 1) {
                enabled++;
                if (seen[e[3]]) problem("MADT lists APIC ID %u twice", e[3]);
                seen[e[3]] = 1;
            }
            break;
        case 1:
            ioapics++;
            memcpy(&u32, e + 4, 4);
            if (!u32) problem("MADT I/O APIC %u has address 0", e[2]);
            break;
        case 2:
            overrides++;
            if (e[2] != 0) problem("MADT interrupt source override on bus %u (only ISA, 0, is defined)", e[2]);
            break;
        case 4:
            nmis++;
            if (e[5] > 1) problem("MADT local APIC NMI on LINT%u", e[5]);
            break;
        default:
            others++;
        }
        offset += e[1];
    }
    if (!enabled) problem("MADT has no enabled processor");
    if (!ioapics) problem("MADT has no I/O APIC");
    char details[160];
    snprintf(details, sizeof(details),
             "local APIC 0x%x, flags 0x%x%s, %u local APICs (%u enabled), %u I/O APIC, %u overrides, "
             "%u local APIC NMI, %u other",
             lapic_addr, flags, (flags & 1) ? " (PCAT_COMPAT)" : "", lapics, enabled, ioapics, overrides, nmis, others);
    print_header(t, details);
}

/* ---------------------------------------------------------------- HPET */
static void check_hpet(const struct acpi_sdt *t) {
    if (t->length < 56) {
        problem("HPET length %u (at least 56)", t->length);
        return;
    }
    const uint8_t *b = (const uint8_t *)t;
    uint32_t block_id;
    struct acpi_gas gas;
    memcpy(&block_id, b + 36, 4);
    memcpy(&gas, b + 40, sizeof(gas));
    if (gas.space_id != 0 || gas.address == 0 || gas.address + 0x400 > LIMIT_4G) {
        problem("HPET base: space %u address 0x%lx (memory below 4 GiB expected)", gas.space_id, gas.address);
        return;
    }
    uint32_t gcap = *(volatile uint32_t *)(uintptr_t)gas.address;
    if (gcap != block_id) problem("HPET Event Timer Block ID 0x%x differs from GCAP_ID[31:0] 0x%x", block_id, gcap);
    char details[96];
    snprintf(details, sizeof(details), "base 0x%lx, block ID 0x%x, GCAP_ID 0x%x", gas.address, block_id, gcap);
    print_header(t, details);
}

/* ---------------------------------------------------------------- roots */
static int root_entries(const struct acpi_sdt *root, uint64_t *out) {
    int size = acpi_root_entry_size(root);
    if ((root->length - sizeof(struct acpi_sdt)) % size)
        problem("%.4s length %u leaves a partial %d-byte entry", root->signature, root->length, size);
    uint32_t n = acpi_root_count(root);
    if (n > MAX_TABLES) {
        problem("%.4s lists %u tables (more than %d)", root->signature, n, MAX_TABLES);
        n = MAX_TABLES;
    }
    for (uint32_t i = 0; i < n; i++) out[i] = acpi_root_entry(root, i);
    return (int)n;
}

int main(void) {
    const struct acpi_fadt *fadt = 0;
    int madts = 0, hpets = 0, have_s5 = 0;
    struct acpi_sleep_type s5;
    const struct acpi_rsdp *rsdp = check_rsdp();
    if (!rsdp) goto done;
    const struct acpi_sdt *rsdt = check_header(rsdp->rsdt_address, "RSDT", sizeof(struct acpi_sdt));
    const struct acpi_sdt *xsdt = check_header(rsdp->xsdt_address, "XSDT", sizeof(struct acpi_sdt));
    if (!rsdt || !xsdt) goto done;
    static uint64_t from_rsdt[MAX_TABLES], from_xsdt[MAX_TABLES];
    int n = root_entries(rsdt, from_rsdt), nx = root_entries(xsdt, from_xsdt);
    char details[64];
    snprintf(details, sizeof(details), "%d entries", n);
    print_header(rsdt, details);
    int same = n == nx;
    for (int i = 0; same && i < n; i++) same = from_rsdt[i] == from_xsdt[i];
    snprintf(details, sizeof(details), "%d entries, %s", nx, same ? "the same tables as the RSDT" : "DIFFERENT");
    print_header(xsdt, details);
    if (!same) problem("the RSDT (%d entries) and the XSDT (%d entries) list different tables", n, nx);

    for (int i = 0; i < n; i++) {
        const struct acpi_sdt *t = check_header(from_rsdt[i], 0, sizeof(struct acpi_sdt));
        if (!t) continue;
        for (int j = 0; j < i; j++)
            if (from_rsdt[j] == from_rsdt[i]) problem("the RSDT lists 0x%lx twice", from_rsdt[i]);
        if (memcmp(t->signature, "FACP", 4) == 0) {
            if (fadt) problem("two FADTs");
            else fadt = check_fadt(t, &s5, &have_s5);
        } else if (memcmp(t->signature, "APIC", 4) == 0) {
            madts++;
            check_madt(t);
        } else if (memcmp(t->signature, "HPET", 4) == 0) {
            hpets++;
            check_hpet(t);
        } else {
            print_header(t, "");
        }
    }
    if (!fadt) problem("no valid FADT (FACP) in the RSDT");
    if (madts != 1) problem("%d MADTs (APIC) in the RSDT, expected 1", madts);

done:
    if (problems || !fadt || !have_s5) {
        printf("acpi-walker: FAIL %d problems\n", problems);
        return EXIT_TEST_FAIL;
    }
    printf("acpi-walker: PASS %d structures valid%s; "
           "powering off via ACPI S5 (PM1a_CNT 0x%x <- SLP_TYPa %u | SLP_EN)\n",
           structures, hpets ? "" : " (no HPET table)", fadt->pm1a_cnt_blk, s5.slp_typa);
    acpi_enter_sleep(fadt, &s5);
    delay_us(1000000);
    printf("acpi-walker: FAIL still running 1 s after the S5 request\n");
    return EXIT_TEST_FAIL;
}
