/* reboot: counts its boots in CMOS byte 0x7E, which a PC's battery keeps across a reset
 * (SwiftVMM starts it at 0). Boot 1 writes 1 there and resets the machine the way the
 * command line says: "cf9" (6 to the reset control register 0xCF9), "kbd" (8042 command
 * 0xFE) or "fadt" (RESET_VALUE to the FADT's RESET_REG, ACPI 6.5 §4.8.3.6, after checking
 * RESET_REG_SUP). A later boot clears the byte and powers off through PM1a control (0x604).
 * Prints "reboot: boot <n> <method>" each boot; "reboot: still running" and v=1 if a
 * reset did not happen. */
#include "acpi.h"
#include "guest.h"
#include "multiboot.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define BOOT_COUNT 0x7E

/* FADT fields (ACPI 6.5 §5.2.9, Table 5.9): byte offsets. */
#define FADT_FLAGS        112
#define FADT_RESET_REG    116   /* Generic Address Structure: space, width, offset, size, address */
#define FADT_RESET_VALUE  128
#define FADT_RESET_REG_SUP (1u << 10)
#define GAS_SYSTEM_IO     1

static uint8_t cmos_read(uint8_t index) { outb(CMOS_INDEX, index); return inb(CMOS_DATA); }
static void cmos_write(uint8_t index, uint8_t v) { outb(CMOS_INDEX, index); outb(CMOS_DATA, v); }

static int is(const char *a, const char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a == 0 && (*b == 0 || *b == ' ');
}

static void fadt_reset(void) {
    const uint8_t *fadt = (const uint8_t *)acpi_find_table("FACP");
    if (!fadt) { printf("reboot: no FADT\n"); return; }
    uint32_t flags = *(const uint32_t *)(fadt + FADT_FLAGS);
    uint8_t space = fadt[FADT_RESET_REG];
    uint64_t address = *(const uint64_t *)(fadt + FADT_RESET_REG + 4);
    uint8_t value = fadt[FADT_RESET_VALUE];
    printf("reboot: fadt reset_reg_sup=%d space=%u address=0x%lx value=0x%02x\n",
           (flags & FADT_RESET_REG_SUP) != 0, space, (unsigned long)address, value);
    if ((flags & FADT_RESET_REG_SUP) && space == GAS_SYSTEM_IO) outb((uint16_t)address, value);
}

int main(void) {
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *method = (info->flags & (1u << 2)) ? (const char *)(uintptr_t)info->cmdline : "";
    int boot = cmos_read(BOOT_COUNT) + 1;
    printf("reboot: boot %d %s\n", boot, method);
    if (boot > 1) {
        cmos_write(BOOT_COUNT, 0);
        outw(0x604, 0x2000);                        /* ACPI S5 */
    } else {
        cmos_write(BOOT_COUNT, 1);
        if (is(method, "cf9")) outb(0xCF9, 0x06);
        else if (is(method, "kbd")) outb(0x64, 0xFE);
        else if (is(method, "fadt")) fadt_reset();
    }
    printf("reboot: still running\n");
    return EXIT_FAIL;
}
