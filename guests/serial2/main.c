/* serial2: looks for COM2 as a kernel does (the 16550 scratch register at 0x2FF keeps what
 * is written; an absent port reads 0xFF) and prints "com2 present=1|0" on COM1. When
 * present it writes "Hello from COM2!\n" to COM2, polling LSR bit 5, and prints "done". */
#include "guest.h"

#define COM2      0x2F8
#define UART_THR  0
#define UART_LSR  5
#define UART_SCR  7
#define LSR_THRE  (1u << 5)

int main(void) {
    outb(COM2 + UART_SCR, 0x5A);
    int present = inb(COM2 + UART_SCR) == 0x5A;
    outb(COM2 + UART_SCR, 0xA5);
    present &= inb(COM2 + UART_SCR) == 0xA5;
    printf("com2 present=%d lsr=0x%02x\n", present, inb(COM2 + UART_LSR));
    if (present) {
        for (const char *s = "Hello from COM2!\n"; *s; s++) {
            while (!(inb(COM2 + UART_LSR) & LSR_THRE)) cpu_pause();
            outb(COM2 + UART_THR, (uint8_t)*s);
        }
    }
    printf("done\n");
    return EXIT_PASS;
}
