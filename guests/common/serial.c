/* Polled 16550 output. No initialisation: the VMM contract is "poll LSR bit 5, write THR",
 * and bytes reach the host verbatim, so "\n" is written without "\r". */
#include "serial.h"
#include "io.h"
#include "string.h"

#define COM1      0x3F8
#define UART_THR  0        /* 16550 transmit holding register (offset 0, DLAB=0) */
#define UART_LSR  5        /* 16550 line status register (offset 5) */
#define LSR_THRE  (1u << 5) /* LSR bit 5: transmit holding register empty */

void serial_putc(char c) {
    while (!(inb(COM1 + UART_LSR) & LSR_THRE))
        cpu_pause();
    outb(COM1 + UART_THR, (uint8_t)c);
}

void serial_write(const char *s, unsigned long n) {
    for (unsigned long i = 0; i < n; i++)
        serial_putc(s[i]);
}

void serial_puts(const char *s) {
    serial_write(s, strlen(s));
}
