/* hello: multiboot 1; prints exactly "Hello, world!\n" and exits with v=0. */
#include "guest.h"

int main(void) {
    serial_puts("Hello, world!\n");
    return EXIT_PASS;
}
