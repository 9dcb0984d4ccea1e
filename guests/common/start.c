/* The boot stubs jump here in 64-bit mode on the boot stack: set up this CPU, run main(). */
#include "cpu.h"
#include "guest.h"
#include "idt.h"

__attribute__((noreturn)) void guest_start(void) {
    idt_init();
    cpu_init(0);
    int v = main();
    guest_exit((uint8_t)v);
}
