#include "acpi_sleep.h"
#include "io.h"
#include "string.h"

#define AML_NAME_OP    0x08
#define AML_ROOT_CHAR  0x5C /* '\' */
#define AML_PACKAGE_OP 0x12
#define AML_ZERO_OP    0x00
#define AML_ONE_OP     0x01
#define AML_BYTE_PREFIX 0x0A

/* One package element that is a small integer: ZeroOp, OneOp or BytePrefix + byte.
 * Advances *p; -1 for anything else (or running past end). */
static int small_integer(const uint8_t **p, const uint8_t *end) {
    if (*p >= end) return -1;
    uint8_t op = *(*p)++;
    if (op == AML_ZERO_OP) return 0;
    if (op == AML_ONE_OP) return 1;
    if (op == AML_BYTE_PREFIX && *p < end) return *(*p)++;
    return -1;
}

int acpi_find_sleep_type(const struct acpi_sdt *dsdt, const char name[4], struct acpi_sleep_type *st) {
    const uint8_t *start = (const uint8_t *)dsdt;
    const uint8_t *aml = start + sizeof(struct acpi_sdt);
    const uint8_t *end = start + dsdt->length;
    for (const uint8_t *p = aml; p + 4 <= end; p++) {
        if (memcmp(p, name, 4) != 0) continue;
        int named = (p - 1 >= aml && p[-1] == AML_NAME_OP) ||
                    (p - 2 >= aml && p[-2] == AML_NAME_OP && p[-1] == AML_ROOT_CHAR);
        if (!named || p + 5 > end || p[4] != AML_PACKAGE_OP) continue;
        /* PkgLength (§20.2.4): bits 7:6 of the lead byte = number of bytes that follow. */
        const uint8_t *q = p + 5;
        if (q >= end) continue;
        q += 1 + (*q >> 6);
        q += 1; /* NumElements */
        int a = small_integer(&q, end);
        int b = small_integer(&q, end);
        if (a < 0 || b < 0) continue;
        st->slp_typa = (uint8_t)a;
        st->slp_typb = (uint8_t)b;
        st->offset = (uint32_t)(p - start);
        return 0;
    }
    return -1;
}

static void write_slp(uint16_t port, uint8_t slp_typ) {
    uint16_t v = inw(port);
    v = (uint16_t)((v & ~PM1_SLP_TYP_MASK) | ((slp_typ & 7u) << PM1_SLP_TYP_SHIFT) | PM1_SLP_EN);
    outw(port, v);
}

void acpi_enter_sleep(const struct acpi_fadt *fadt, const struct acpi_sleep_type *st) {
    write_slp((uint16_t)fadt->pm1a_cnt_blk, st->slp_typa);
    if (fadt->pm1b_cnt_blk) write_slp((uint16_t)fadt->pm1b_cnt_blk, st->slp_typb);
}
