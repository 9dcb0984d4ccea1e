/* hello-mb2: multiboot 2 (header with only the end tag); prints exactly
 * "Hello from multiboot 2!\n" and exits with v=0. */
#include "guest.h"

int main(void) {
    serial_puts("Hello from multiboot 2!\n");
    return EXIT_PASS;
}
