/* power: ends the machine the way the last word of the multiboot command line says (QEMU
 * puts the kernel path first), as kernels do without firmware: "acpi" writes SLP_EN with
 * SLP_TYP 0 to PM1a control (port 0x604, ACPI 6.5 §4.8.3.2.1), "bochs" writes 0x2000 to
 * 0xB004 (old Bochs/QEMU), "shutdown" writes the string "Shutdown" to Bochs's port 0x8900,
 * "cf9" writes 6 to the reset control register 0xCF9, "kbd" probes the 8042 as Linux's
 * keyboard reset does (prints "i8042 status=0x.."; waits, bounded, for the input buffer to
 * be empty, then sends command 0xFE, pulse reset, up to ten times), "port92" sets the
 * fast-reset bit of port 0x92. The VMM must end the run (status 0 for power-off, 8 for
 * reset); if it does not, the guest says so and exits v=1. */
#include "guest.h"
#include "multiboot.h"

#define I8042_STATUS   0x64
#define I8042_COMMAND  0x64
#define STATUS_INPUT_FULL (1u << 1)   /* the controller has not taken the last byte yet */

/* Linux kb_wait(): poll until the input buffer is empty, for at most ~0x10000 reads. */
static int i8042_wait(void) {
    for (int i = 0; i < 0x10000; i++)
        if (!(inb(I8042_STATUS) & STATUS_INPUT_FULL)) return 1;
    return 0;
}

static void i8042_reset(void) {
    printf("i8042 status=0x%02x\n", inb(I8042_STATUS));
    for (int i = 0; i < 10; i++) {
        if (!i8042_wait()) printf("i8042 busy\n");
        outb(I8042_COMMAND, 0xFE);
    }
}

static int is(const char *a, const char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a == 0 && (*b == 0 || *b == ' ');
}

int main(void) {
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *cmdline = (info->flags & (1u << 2)) ? (const char *)(uintptr_t)info->cmdline : "";
    printf("power: %s\n", cmdline);
    const char *method = cmdline;
    for (const char *p = cmdline; *p; p++)
        if (*p == ' ' && p[1] && p[1] != ' ') method = p + 1;
    if (is(method, "acpi")) outw(0x604, 0x2000);
    else if (is(method, "bochs")) outw(0xB004, 0x2000);
    else if (is(method, "shutdown")) { for (const char *p = "Shutdown"; *p; p++) outb(0x8900, (uint8_t)*p); }
    else if (is(method, "cf9")) outb(0xCF9, 0x06);
    else if (is(method, "kbd")) i8042_reset();
    else if (is(method, "port92")) outb(0x92, inb(0x92) | 1);
    printf("power: still running\n");
    return EXIT_FAIL;
}
