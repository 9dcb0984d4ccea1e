/* 16550 UART at COM1 (0x3F8): polled output only. */
#ifndef GUEST_SERIAL_H
#define GUEST_SERIAL_H

void serial_putc(char c);
void serial_write(const char *s, unsigned long n);
void serial_puts(const char *s); /* writes s as is: no newline is added */

#endif
