#include "acpi.h"
#include "string.h"

/* Physical memory is identity-mapped 0-4 GiB; tables beyond that are not reachable. */
#define MAPPED_LIMIT 0x100000000ull

int acpi_checksum_ok(const void *p, uint32_t len) {
    const uint8_t *b = p;
    uint8_t sum = 0;
    for (uint32_t i = 0; i < len; i++) sum += b[i];
    return sum == 0;
}

const struct acpi_rsdp *acpi_find_rsdp(void) {
    for (uint64_t a = 0xE0000; a < 0x100000; a += 16) {
        const struct acpi_rsdp *r = (const struct acpi_rsdp *)a;
        if (memcmp(r->signature, "RSD PTR ", 8) != 0) continue;
        if (!acpi_checksum_ok(r, 20)) continue;
        if (r->revision >= 2 && (r->length < 36 || !acpi_checksum_ok(r, 36))) continue;
        return r;
    }
    return 0;
}

const struct acpi_sdt *acpi_table_at(uint64_t addr) {
    if (addr == 0 || addr + sizeof(struct acpi_sdt) > MAPPED_LIMIT) return 0;
    const struct acpi_sdt *t = (const struct acpi_sdt *)addr;
    if (t->length < sizeof(struct acpi_sdt) || addr + t->length > MAPPED_LIMIT) return 0;
    if (!acpi_checksum_ok(t, t->length)) return 0;
    return t;
}

uint32_t acpi_root_count(const struct acpi_sdt *root) {
    return (root->length - sizeof(struct acpi_sdt)) / acpi_root_entry_size(root);
}

/* RSDT entries are 32-bit, XSDT entries 64-bit; both start after the header and are not
 * necessarily naturally aligned (XSDT entries sit at offset 36). */
uint64_t acpi_root_entry(const struct acpi_sdt *root, uint32_t i) {
    uint64_t addr = 0;
    int size = acpi_root_entry_size(root);
    memcpy(&addr, (const uint8_t *)root + sizeof(struct acpi_sdt) + i * size, size);
    return addr;
}

const struct acpi_sdt *acpi_root_find(const struct acpi_sdt *root, const char signature[4]) {
    uint32_t n = acpi_root_count(root);
    for (uint32_t i = 0; i < n; i++) {
        const struct acpi_sdt *t = acpi_table_at(acpi_root_entry(root, i));
        if (t && memcmp(t->signature, signature, 4) == 0) return t;
    }
    return 0;
}

const struct acpi_sdt *acpi_find_table(const char signature[4]) {
    const struct acpi_rsdp *r = acpi_find_rsdp();
    if (!r) return 0;
    const struct acpi_sdt *root = 0;
    if (r->revision >= 2) root = acpi_table_at(r->xsdt_address);
    if (!root) root = acpi_table_at(r->rsdt_address);
    if (!root) return 0;
    return acpi_root_find(root, signature);
}

/* MADT (ACPI 6.5 §5.2.12): header, local APIC address (4), flags (4), then
 * interrupt controller structures, each starting with type (1) and length (1). */
#define MADT_LOCAL_APIC   0 /* §5.2.12.2: uid (1), APIC ID (1), flags (4) */
#define MADT_LOCAL_X2APIC 9 /* §5.2.12.12: reserved (2), x2APIC ID (4), flags (4), uid (4) */
#define MADT_ENABLED      1u

int acpi_madt_cpus(uint32_t *ids, int max) {
    const struct acpi_sdt *madt = acpi_find_table("APIC");
    if (!madt) return -1;
    return acpi_madt_cpus_in(madt, ids, max);
}

int acpi_madt_cpus_in(const struct acpi_sdt *madt, uint32_t *ids, int max) {
    const uint8_t *p = (const uint8_t *)madt + sizeof(struct acpi_sdt) + 8;
    const uint8_t *end = (const uint8_t *)madt + madt->length;
    int count = 0;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        uint32_t id = 0, flags = 0;
        int cpu = 0;
        if (p[0] == MADT_LOCAL_APIC && p[1] >= 8) {
            id = p[3];
            memcpy(&flags, p + 4, 4);
            cpu = 1;
        } else if (p[0] == MADT_LOCAL_X2APIC && p[1] >= 16) {
            memcpy(&id, p + 4, 4);
            memcpy(&flags, p + 8, 4);
            cpu = 1;
        }
        if (cpu && (flags & MADT_ENABLED)) {
            if (ids && count < max) ids[count] = id;
            count++;
        }
        p += p[1];
    }
    return count;
}
