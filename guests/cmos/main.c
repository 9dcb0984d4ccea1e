/* cmos: reads the MC146818 RTC as a firmware-free kernel does (MC146818A datasheet;
 * ports 0x70 index, 0x71 data). Waits for an update (the seconds change; whether UIP was
 * seen set on the way is printed: the next ~999 ms are safe), reads the time in BCD, binary and 12-hour format and checks they
 * agree, that BCD digits are digits, the year is >= 2024, the day of week fits the date
 * and, with "now=<unix seconds>" on the command line, the time is within 5 s of it.
 * Then register C's update flag and clear-on-read, register D's VRT bit, the shutdown
 * status byte 0x0F (written 0x0A and read back, as SMP start-up code does), the NMI-mask
 * bit of the index port and the memory bytes 0x34/0x35. Prints key=value lines and
 * "cmos: PASS" (v=0), or "FAIL <reason>" (v=1). */
#include "guest.h"
#include "multiboot.h"
#include "tsc.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71
#define NMI_MASK   0x80

enum { SEC = 0x00, MIN = 0x02, HOUR = 0x04, DOW = 0x06, DAY = 0x07, MONTH = 0x08, YEAR = 0x09,
       REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D, SHUTDOWN = 0x0F,
       EXT16_LO = 0x34, EXT16_HI = 0x35, CENTURY = 0x32 };
#define A_UIP      0x80
#define B_BINARY   0x04
#define B_24HOUR   0x02
#define C_UF       0x10
#define D_VRT      0x80
#define HOUR_PM    0x80

static uint8_t cmos_read(uint8_t index) {
    outb(CMOS_INDEX, index);
    return inb(CMOS_DATA);
}

static void cmos_write(uint8_t index, uint8_t value) {
    outb(CMOS_INDEX, index);
    outb(CMOS_DATA, value);
}

static int failures;
static void check(int ok, const char *what) {
    if (!ok) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

struct rtc_time { int sec, min, hour, dow, day, month, year, century; };

static int bcd_ok(uint8_t v) { return (v & 0x0F) <= 9 && (v >> 4) <= 9; }
static int from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0F); }

/* Reads the time registers raw. */
static void read_raw(uint8_t raw[8]) {
    static const uint8_t regs[8] = { SEC, MIN, HOUR, DOW, DAY, MONTH, YEAR, CENTURY };
    for (int i = 0; i < 8; i++) raw[i] = cmos_read(regs[i]);
}

static int value(uint8_t v, int binary) { return binary ? v : from_bcd(v); }

static struct rtc_time decode(const uint8_t raw[8], int binary, int hour24) {
    struct rtc_time t;
    t.sec = value(raw[0], binary);
    t.min = value(raw[1], binary);
    if (hour24) t.hour = value(raw[2], binary);
    else t.hour = value(raw[2] & ~HOUR_PM, binary) % 12 + ((raw[2] & HOUR_PM) ? 12 : 0);
    t.dow = value(raw[3], binary);
    t.day = value(raw[4], binary);
    t.month = value(raw[5], binary);
    t.century = value(raw[7], binary);
    t.year = t.century * 100 + value(raw[6], binary);
    return t;
}

/* Days since 1970-01-01 (proleptic Gregorian; H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int same(struct rtc_time a, struct rtc_time b) {
    return a.sec == b.sec && a.min == b.min && a.hour == b.hour && a.dow == b.dow && a.day == b.day
        && a.month == b.month && a.year == b.year;
}

/* "now=<decimal>" in the command line, or -1. */
static int64_t cmdline_now(void) {
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *s = (info->flags & (1u << 2)) ? (const char *)(uintptr_t)info->cmdline : "";
    for (; *s; s++) {
        if (s[0] == 'n' && s[1] == 'o' && s[2] == 'w' && s[3] == '=') {
            int64_t v = 0;
            for (s += 4; *s >= '0' && *s <= '9'; s++) v = v * 10 + (*s - '0');
            return v;
        }
    }
    return -1;
}

/* Waits until the seconds register changes (an update just happened: the next ~999 ms
 * are safe to read in) and notes whether UIP was seen set on the way; 0 on time-out. A
 * vCPU the host deschedules can miss UIP's 244 us, so only the update itself is required. */
static int wait_for_update(int *uip_seen) {
    uint64_t deadline = rdtsc() + tsc_from_us(3000000);
    uint8_t start = cmos_read(SEC);
    *uip_seen = 0;
    while (rdtsc() < deadline) {
        if (cmos_read(REG_A) & A_UIP) *uip_seen = 1;
        else if (cmos_read(SEC) != start) return 1;
    }
    return 0;
}

int main(void) {
    uint8_t b = cmos_read(REG_B);
    printf("regB=0x%02x\n", b);
    check(b == B_24HOUR, "register B is not 24-hour BCD at boot");
    uint8_t d = cmos_read(REG_D);
    printf("regD=0x%02x\n", d);
    check(d & D_VRT, "register D: VRT clear");

    (void)cmos_read(REG_C);                         /* clear old flags */
    int uip_seen;
    int updated = wait_for_update(&uip_seen);
    printf("updated=%d uip_seen=%d\n", updated, uip_seen);
    check(updated, "the seconds did not change within 3 s");
    uint8_t c1 = cmos_read(REG_C), c2 = cmos_read(REG_C);
    printf("regC=0x%02x then 0x%02x\n", c1, c2);
    check(c1 & C_UF, "register C: no UF after an update");
    check(!(c2 & C_UF), "register C: UF not cleared by reading");

    /* Just after an update: the same second for the next ~999 ms. */
    uint8_t raw_bcd[8], raw_bin[8], raw_12[8];
    read_raw(raw_bcd);
    cmos_write(REG_B, B_24HOUR | B_BINARY);
    read_raw(raw_bin);
    cmos_write(REG_B, B_BINARY);                    /* binary, 12-hour */
    read_raw(raw_12);
    cmos_write(REG_B, B_24HOUR);

    int digits = 1;
    for (int i = 0; i < 8; i++) digits &= bcd_ok(raw_bcd[i]);
    check(digits, "a BCD register holds a non-decimal nibble");
    struct rtc_time t = decode(raw_bcd, 0, 1), tb = decode(raw_bin, 1, 1), t12 = decode(raw_12, 1, 0);
    printf("bcd %04d-%02d-%02d %02d:%02d:%02d dow=%d\n", t.year, t.month, t.day, t.hour, t.min, t.sec, t.dow);
    printf("binary %04d-%02d-%02d %02d:%02d:%02d dow=%d\n", tb.year, tb.month, tb.day, tb.hour, tb.min, tb.sec, tb.dow);
    printf("hour12=0x%02x\n", raw_12[2]);
    printf("agree=%d\n", same(t, tb));
    check(same(t, tb), "BCD and binary disagree");
    check(same(t, t12), "12-hour and 24-hour disagree");
    check((raw_12[2] & 0x7F) >= 1 && (raw_12[2] & 0x7F) <= 12, "12-hour hours outside 1..12");
    check(t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= 31 && t.hour < 24 && t.min < 60 && t.sec < 60,
          "a field is out of range");
    check(t.year >= 2024, "year before 2024");
    int64_t days = days_from_civil(t.year, t.month, t.day);
    check(t.dow == (int)((days + 4) % 7) + 1, "day of week does not match the date");
    int64_t unix_time = days * 86400 + t.hour * 3600 + t.min * 60 + t.sec;
    printf("unix=%ld\n", (long)unix_time);
    int64_t now = cmdline_now();
    if (now >= 0) {
        int64_t diff = unix_time - now;
        printf("now_diff=%ld\n", (long)diff);
        check(diff >= -5 && diff <= 5, "more than 5 s from now= on the command line");
    }

    cmos_write(SHUTDOWN, 0x0A);
    uint8_t shutdown = cmos_read(SHUTDOWN);
    printf("shutdown=0x%02x\n", shutdown);
    check(shutdown == 0x0A, "shutdown status byte did not keep 0x0A");
    outb(CMOS_INDEX, NMI_MASK | SHUTDOWN);          /* index with NMIs masked still selects */
    check(inb(CMOS_DATA) == 0x0A, "index with the NMI-mask bit selected another byte");
    cmos_write(SHUTDOWN, 0);

    unsigned ext16 = cmos_read(EXT16_LO) | (unsigned)cmos_read(EXT16_HI) << 8;
    printf("ext16_64k=%u\n", ext16);

    if (failures) return EXIT_FAIL;
    printf("cmos: PASS\n");
    return EXIT_PASS;
}
