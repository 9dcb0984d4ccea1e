/* fault: prints "about to fault\n", loads an empty IDT (limit 0) and executes ud2. #UD
 * cannot be delivered (vector beyond the IDT limit -> #GP -> #DF -> shutdown, SDM Vol. 3A
 * §6.15 "Interrupt 8"), so the CPU triple-faults; the VMM must report status 4. */
#include "guest.h"

int main(void) {
    serial_puts("about to fault\n");
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } empty = { 0, 0 };
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty));
    return 1; /* not reached */
}
