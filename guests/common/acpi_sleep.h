/* The FADT (ACPI 6.5 §5.2.9), the FACS (§5.2.10) and entering a sleeping state (S5 "soft
 * off", S3 "suspend to RAM") without an AML interpreter: SLP_TYP from a byte scan of the
 * DSDT for the \_Sx_ package (§7.4.2 \_Sx system states; the same scan OSDev's "Shutdown"
 * article and early Linux/Xen code use), then SLP_TYP | SLP_EN into PM1a (and PM1b)
 * control (§4.8.3.2.1). */
#ifndef GUEST_ACPI_SLEEP_H
#define GUEST_ACPI_SLEEP_H

#include <stdint.h>
#include "acpi.h"

/* §5.2.3.2 Generic Address Structure. */
struct __attribute__((packed)) acpi_gas {
    uint8_t space_id;    /* 0 system memory, 1 system I/O */
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;
    uint64_t address;
};

/* §5.2.9 FADT format (revision 6: 276 bytes). Older, shorter FADTs end early:
 * check the header's length before reading a field past it. */
struct __attribute__((packed)) acpi_fadt {
    struct acpi_sdt header;
    uint32_t firmware_ctrl;      /* 36: FACS, 32-bit */
    uint32_t dsdt;               /* 40 */
    uint8_t reserved0;
    uint8_t preferred_pm_profile;
    uint16_t sci_int;            /* 46 */
    uint32_t smi_cmd;            /* 48: 0 = ACPI already enabled (no SMM hand-over) */
    uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
    uint32_t pm1a_evt_blk;       /* 56 */
    uint32_t pm1b_evt_blk;
    uint32_t pm1a_cnt_blk;       /* 64 */
    uint32_t pm1b_cnt_blk;
    uint32_t pm2_cnt_blk;
    uint32_t pm_tmr_blk;         /* 76 */
    uint32_t gpe0_blk, gpe1_blk;
    uint8_t pm1_evt_len;         /* 88 */
    uint8_t pm1_cnt_len;
    uint8_t pm2_cnt_len, pm_tmr_len, gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
    uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
    uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
    uint16_t iapc_boot_arch;     /* 109 */
    uint8_t reserved1;
    uint32_t flags;              /* 112 */
    struct acpi_gas reset_reg;   /* 116 */
    uint8_t reset_value;         /* 128 */
    uint16_t arm_boot_arch;
    uint8_t minor_version;       /* 131 */
    uint64_t x_firmware_ctrl;    /* 132 */
    uint64_t x_dsdt;             /* 140 */
    struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk; /* 148.. */
    struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
    struct acpi_gas sleep_control_reg, sleep_status_reg;
    uint64_t hypervisor_vendor_identity; /* 268 */
};

#define FADT_ACPI1_LENGTH   116u /* ACPI 1.0 FADT: up to Flags */
#define FADT_X_DSDT_END     148u /* X_FIRMWARE_CTRL and X_DSDT present */
#define FADT_RESET_REG_SUP  (1u << 10)

/* §5.2.10: signature "FACS", length (>= 64), 64-byte aligned; no checksum. */
struct __attribute__((packed)) acpi_facs {
    char signature[4];
    uint32_t length;
    uint32_t hardware_signature;
    uint32_t firmware_waking_vector;
    uint32_t global_lock;
    uint32_t flags;
    uint64_t x_firmware_waking_vector;
    uint8_t version;
};

/* PM1 control register bits (§4.8.3.2.1). */
#define PM1_SCI_EN       (1u << 0)
#define PM1_SLP_TYP_SHIFT 10        /* bits 12:10 */
#define PM1_SLP_TYP_MASK (7u << 10)
#define PM1_SLP_EN       (1u << 13)

/* A \_Sx_ package's first two elements, SLP_TYPa and SLP_TYPb. */
struct acpi_sleep_type {
    uint8_t slp_typa, slp_typb;
    uint32_t offset;             /* of the name in the DSDT */
};

/* PM1 status and enable bits (§4.8.3.1.1). */
#define PM1_RTC_STS      (1u << 10)  /* RTC_EN in the enable register */
#define PM1_WAK_STS      (1u << 15)

/* Scans the DSDT's AML for `Name (NAME, Package () {a, b, ...})`, NAME "_S5_" or "_S3_" (NameOp 0x08, optionally
 * a root prefix '\', the name, PackageOp 0x12, PkgLength, NumElements, then each element
 * ZeroOp/OneOp or BytePrefix 0x0A + byte; ACPI 6.5 §20.2.5.1 DefName, §20.2.5.4
 * DefPackage, §20.2.4 PkgLength, §20.2.3 data objects).
 * Returns 0 and fills st, or -1 if no such package is found. */
int acpi_find_sleep_type(const struct acpi_sdt *dsdt, const char name[4], struct acpi_sleep_type *st);

/* Requests the sleeping state: for PM1a (and PM1b when present) control, read, replace
 * SLP_TYP, set SLP_EN, write (16-bit port I/O). Returns if the machine did not sleep. */
void acpi_enter_sleep(const struct acpi_fadt *fadt, const struct acpi_sleep_type *st);

#endif
