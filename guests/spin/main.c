/* spin: prints "spinning\n" and then loops forever with interrupts enabled, so only the
 * VMM's time limit or a signal can end the run. It masks both 8259s first, as a kernel
 * that takes no legacy interrupts does: firmware (and SwiftVMM's --bios-timer, which
 * QEMU's spelling turns on) may leave the PIT ticking into IRQ 0. */
#include "guest.h"

int main(void) {
    outb(0x21, 0xFF);
    outb(0xA1, 0xFF);
    serial_puts("spinning\n");
    for (;;) {
        __asm__ volatile("sti; pause");
    }
}
