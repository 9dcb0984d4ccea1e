#include "printf.h"
#include "io.h"
#include "serial.h"
#include "spinlock.h"

/* Sink: either the serial port or a bounded buffer. */
struct sink {
    char *buf;
    size_t size;
    size_t len; /* characters produced so far (may exceed size) */
};

static void emit(struct sink *s, char c) {
    if (s->buf) {
        if (s->len + 1 < s->size) s->buf[s->len] = c;
    } else {
        serial_putc(c);
    }
    s->len++;
}

static void emit_number(struct sink *s, unsigned long long v, unsigned base, int negative,
                        int width, char pad) {
    char digits[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        digits[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    int len = n + (negative ? 1 : 0);
    if (negative && pad == '0') emit(s, '-');
    for (; len < width; len++) emit(s, pad);
    if (negative && pad != '0') emit(s, '-');
    while (n) emit(s, digits[--n]);
}

static void format(struct sink *s, const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(s, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, longs = 0, precision = -1;
        if (*fmt == '0') { pad = '0'; fmt++; }
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        if (*fmt == '.') {
            fmt++;
            precision = 0;
            while (*fmt >= '0' && *fmt <= '9') precision = precision * 10 + (*fmt++ - '0');
        }
        while (*fmt == 'l') { longs++; fmt++; }
        if (*fmt == 'z') { longs = 1; fmt++; }
        switch (*fmt) {
        case 'd':
        case 'i': {
            long long v = longs >= 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
            unsigned long long m = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
            emit_number(s, m, 10, v < 0, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = longs >= 2 ? va_arg(ap, unsigned long long)
                                 : longs ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
            emit_number(s, v, *fmt == 'u' ? 10 : 16, 0, width, pad);
            break;
        }
        case 'p':
            emit(s, '0');
            emit(s, 'x');
            emit_number(s, (unsigned long long)(unsigned long)va_arg(ap, void *), 16, 0, width, pad);
            break;
        case 'c':
            emit(s, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str) str = "(null)";
            int len = 0;
            while (str[len] && (precision < 0 || len < precision)) len++;
            for (int n = len; n < width; n++) emit(s, ' ');
            for (int i = 0; i < len; i++) emit(s, str[i]);
            break;
        }
        case '%':
            emit(s, '%');
            break;
        case '\0':
            return;
        default:
            emit(s, '%');
            emit(s, *fmt);
            break;
        }
    }
}

static spinlock_t print_lock;

int vprintf(const char *fmt, va_list ap) {
    struct sink s = { 0, 0, 0 };
    uint64_t flags = irq_save();
    spin_lock(&print_lock);
    format(&s, fmt, ap);
    spin_unlock(&print_lock);
    irq_restore(flags);
    return (int)s.len;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) {
    struct sink s = { buf, size, 0 };
    format(&s, fmt, ap);
    if (size) buf[s.len < size ? s.len : size - 1] = '\0';
    return (int)s.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int panic_printf(const char *fmt, ...) {
    struct sink s = { 0, 0, 0 };
    va_list ap;
    va_start(ap, fmt);
    cli();
    /* The lock may be held by this very CPU (fault inside printf): give up after a while. */
    int locked = spin_trylock_bounded(&print_lock, 100000000u);
    format(&s, fmt, ap);
    if (locked) spin_unlock(&print_lock);
    va_end(ap);
    return (int)s.len;
}
