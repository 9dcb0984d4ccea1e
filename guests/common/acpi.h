/* ACPI table walker: RSDP scan, RSDT/XSDT, MADT processor entries (ACPI 6.5 §5.2). */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <stdint.h>

/* ACPI 6.5 §5.2.5.3 RSDP structure: 20 bytes in revision 0, 36 bytes from revision 2. */
struct __attribute__((packed)) acpi_rsdp {
    char signature[8];      /* "RSD PTR " */
    uint8_t checksum;       /* first 20 bytes sum to 0 */
    char oem_id[6];
    uint8_t revision;       /* 0 = ACPI 1.0, 2 = ACPI 2.0+ */
    uint32_t rsdt_address;
    uint32_t length;        /* revision >= 2 */
    uint64_t xsdt_address;
    uint8_t extended_checksum; /* all 36 bytes sum to 0 */
    uint8_t reserved[3];
};

/* ACPI 6.5 §5.2.6 system description table header. */
struct __attribute__((packed)) acpi_sdt {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
};

/* Scans 0xE0000-0xFFFFF on 16-byte boundaries (ACPI 6.5 §5.2.5.1) for a valid RSDP. */
const struct acpi_rsdp *acpi_find_rsdp(void);

/* Finds a table by signature through the XSDT (revision >= 2) or else the RSDT.
 * Checksums are verified; NULL if absent or invalid. */
const struct acpi_sdt *acpi_find_table(const char signature[4]);

/* The table at a physical address if its length is sane, it lies below 4 GiB (the
 * identity map) and its checksum is valid; else NULL. The signature is not checked. */
const struct acpi_sdt *acpi_table_at(uint64_t addr);

/* One root table's entries (ACPI 6.5 §5.2.7 RSDT: 32-bit addresses, §5.2.8 XSDT: 64-bit),
 * for a kernel that reads only one of them. The root must be valid (acpi_table_at). */
static inline int acpi_root_entry_size(const struct acpi_sdt *root) {
    return root->signature[0] == 'X' ? 8 : 4;
}
uint32_t acpi_root_count(const struct acpi_sdt *root);
uint64_t acpi_root_entry(const struct acpi_sdt *root, uint32_t i);
/* The first valid table with this signature listed in root; NULL if none. */
const struct acpi_sdt *acpi_root_find(const struct acpi_sdt *root, const char signature[4]);

/* Enabled processors in the MADT (ACPI 6.5 §5.2.12): Processor Local APIC (type 0) and
 * Processor Local x2APIC (type 9) entries with flags bit 0 (Enabled) set. Stores up to max
 * APIC IDs in ids (may be NULL) and returns the count; -1 if there is no valid MADT. */
int acpi_madt_cpus(uint32_t *ids, int max);
/* The same for a given MADT (which the caller found and validated). */
int acpi_madt_cpus_in(const struct acpi_sdt *madt, uint32_t *ids, int max);

int acpi_checksum_ok(const void *p, uint32_t len);

#endif
