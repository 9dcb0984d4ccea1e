/* spin: prints "spinning\n" and then loops forever with interrupts enabled, so only the
 * VMM's time limit or a signal can end the run. */
#include "guest.h"

int main(void) {
    serial_puts("spinning\n");
    for (;;) {
        __asm__ volatile("sti; pause");
    }
}
