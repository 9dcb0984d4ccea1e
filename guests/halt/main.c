/* halt: prints "halting\n", then cli; hlt forever: nothing can wake the CPU, so the VMM
 * must detect the deadlock (status 6). */
#include "guest.h"

int main(void) {
    serial_puts("halting\n");
    halt_forever();
}
