/* A tiny printf to the serial port: %s %c %d %i %u %x %p %%, length l/ll/z, flag 0,
 * a field width (e.g. %08x, %16lx) and a precision for %s (%.4s: at most 4 characters). Output of one call is never interleaved with another
 * CPU's: the whole call runs under a spinlock with interrupts off. */
#ifndef GUEST_PRINTF_H
#define GUEST_PRINTF_H

#include <stdarg.h>
#include <stddef.h>

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap);
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* For the exception path: prints even if the print lock looks stuck (after a bounded wait). */
int panic_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
