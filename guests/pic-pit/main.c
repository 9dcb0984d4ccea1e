/* pic-pit: the 8254 PIT and the 8259A PIC pair, then the PIT through the I/O APIC.
 * Multiboot 1, one CPU. Prints (each on its own line):
 *   pit_cal_runs=<k> of <tries> tries, max_uncertainty_tsc=<n>, khz=<k1>,<k2>,...
 *   pit_tsc_khz=<n> cpuid_tsc_khz=<n>      (a) TSC calibrated against PIT channel 2
 *   tsc_source=<cpuid15|cpuid16|hv40000010|assumed>
 *   pic_ticks=<n> pic_tick_tsc=<avg TSC cycles per tick>   (b) PIT ch0 -> PIC IRQ0
 *   expected_tick_tsc=<n>                  one PIT period (1193 PIT clocks) by the CPUID rate
 *   pic_attempts=<n> pic_min_interval_tsc=<n> pic_max_interval_tsc=<n> pic_extra=<n>
 *   ioapic_pin=<n> override=<0|1> flags=0x<INTI flags>     (c) where IRQ0 enters the I/O APIC
 *   ioapic_ticks=<n>
 *   ioapic_tick_tsc=<n>
 *   ioapic_attempts=<n> ioapic_min_interval_tsc=<n> ioapic_max_interval_tsc=<n> ioapic_extra=<n>
 *     inflight=<0|1>
 *   spurious_irq7=<n>
 *   pic-pit: PASS (v=0) | pic-pit: FAIL <reason> (v=3) | pic-pit: TIMEOUT (v=4, 10 s watchdog)
 *
 * (a) Channel 2 one-shot, gated through port 0x61 (bit 0 gate, bit 1 speaker off), mode 0
 *     (8254 datasheet: OUT goes low at the control word, counting starts after the MSB
 *     is written, OUT goes high at terminal count), count 11932 (~10 ms at 1.193182 MHz),
 *     OUT2 polled in port 0x61 bit 5. Each port access is bracketed by TSC reads; a run
 *     whose start/end uncertainty exceeds 0.5 % of the interval (the vCPU was descheduled)
 *     is discarded, up to 40 tries. pit_tsc_khz = median of 5 good runs; it must be within
 *     1 % of the CPUID rate (which must exist: CPUID 0x15, 0x16 or 0x40000010).
 * (b) ICW1-4: master base 0x20, slave 0x28, slave on IR2, 8086 mode; OCW1 unmasks only
 *     IRQ0. Channel 0 mode 2 (rate generator), divisor 1193 (1 kHz - 152 ppm).
 *     The BSP local APIC is left as firmware leaves it (virtual wire: LINT0 = ExtINT), so
 *     IRQ0 arrives on vector 0x20 through LINT0. The handler sends a non-specific EOI; at
 *     the 50th tick it masks IRQ0 (OCW1), then 10 ms are waited for a wrong extra tick.
 *     Requires exactly 50 ticks, none after the mask, and (last - first) / 49 within 1 % of
 *     expected_tick_tsc.
 * (c) OCW1 0xFF on both chips, local APIC software-enabled (SVR) with LINT0 masked, I/O
 *     APIC input for ISA IRQ0 from the MADT interrupt source override (identity if none),
 *     redirected to the BSP: fixed, physical destination = BSP APIC ID, vector 0x30,
 *     polarity/trigger from the override flags (ISA default: edge, active high), unmasked.
 *     The PIT keeps running from (b). The handler EOIs the local APIC and masks the entry
 *     at the 50th tick; one more interrupt is allowed only if the local APIC had already
 *     accepted it (IRR bit set right after the mask: inflight=1). Same period check.
 * A tick run that fails and contains an interval over 1.5 periods or under half a period is
 * repeated, at most 3 runs; the last run is reported (*_attempts). Such intervals mean the
 * vCPU did not run for a while (host load): ticks came late and then in a burst, or one
 * merged with the next (an IRQ0 edge not yet acknowledged is lost on real hardware too).
 * A VMM that loses or bunches ticks by itself fails all three runs.
 * Vector 0x27 (master IR7) is counted: spurious if the master ISR bit 7 is clear (no EOI,
 * 8259A datasheet), else EOIed. */
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "tsc.h"
#include "legacy_hw.h"

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4

#define TICKS          50
#define CAL_COUNT      11932u /* PIT clocks: 10.0001 ms */
#define CAL_RUNS       5
#define CAL_TRIES      40
#define PIT_1KHZ       1193u  /* 1193182 / 1000, rounded */
#define PIC_VECTOR     0x20
#define IOAPIC_VECTOR  0x30
#define WAIT_US        2000000u
#define SETTLE_US      10000u
#define ATTEMPTS       3
#define STALL_PERIODS_X2 3 /* 1.5 periods */

static int failed;
static char reason[160];

static void fail(const char *what) {
    if (!failed) snprintf(reason, sizeof(reason), "%s", what);
    failed = 1;
}

/* ---------------------------------------------------------------- (a) */
/* One channel-2 one-shot. Every port access is bracketed by TSC reads, so the load of the
 * count (counting starts there) lies in [ta, tb] and the rise of OUT2 between the start of
 * the last read that saw it low (p0) and the end of the first read that saw it high (c1).
 * Returns the midpoint estimate of the interval in TSC cycles and stores the uncertainty
 * (tb - ta) + (c1 - p0) in *u; 0 if OUT2 did not rise within 100 ms. A vCPU that was
 * descheduled around either end shows a large *u (the Linux pit_calibrate_tsc idea of
 * rejecting disturbed samples). */
static uint64_t pit_ch2_oneshot(uint64_t *u, int *out2_early) {
    uint8_t p61 = inb(PORT_61);
    outb(PORT_61, (uint8_t)((p61 & ~P61_SPKR) | P61_GATE2)); /* gate 2 high, no speaker */
    outb(PIT_CMD, PIT_CW(2, 0));
    outb(PIT_CH2, (uint8_t)CAL_COUNT);
    uint64_t ta = rdtsc();
    outb(PIT_CH2, (uint8_t)(CAL_COUNT >> 8));
    uint64_t tb = rdtsc();
    uint64_t limit = tb + tsc_from_us(100000);
    uint64_t p0 = tb, c0, c1;
    for (int first = 1;; first = 0) {
        c0 = rdtsc();
        uint8_t v = inb(PORT_61);
        c1 = rdtsc();
        if (v & P61_OUT2) {
            /* Mode 0: OUT is low from the control word until terminal count. */
            if (first) *out2_early = 1;
            break;
        }
        if (c1 > limit) return 0;
        p0 = c0;
    }
    outb(PORT_61, (uint8_t)(p61 & ~(P61_SPKR | P61_GATE2)));
    *u = (tb - ta) + (c1 - p0);
    return (p0 + c1) / 2 - (ta + tb) / 2;
}

/* Median of CAL_RUNS undisturbed runs (uncertainty below 0.1 % of the interval), trying at
 * most CAL_TRIES times; disturbed runs are counted and printed. */
static uint64_t calibrate(void) {
    uint64_t khz[CAL_RUNS];
    int good = 0, tries = 0, early = 0, dead = 0;
    uint64_t worst_u = 0;
    while (good < CAL_RUNS && tries < CAL_TRIES) {
        tries++;
        uint64_t u = 0;
        uint64_t dt = pit_ch2_oneshot(&u, &early);
        if (!dt) {
            dead++;
            break;
        }
        if (u * 200 > dt) continue;
        if (u > worst_u) worst_u = u;
        /* kHz = cycles / (CAL_COUNT / PIT_HZ s) / 1000 */
        khz[good++] = dt * PIT_HZ / ((uint64_t)CAL_COUNT * 1000);
    }
    printf("pit_cal_runs=%d of %d tries, max_uncertainty_tsc=%lu, khz=", good, tries, worst_u);
    for (int i = 0; i < good; i++) printf("%s%lu", i ? "," : "", khz[i]);
    printf("\n");
    if (early) fail("PIT: port 0x61 bit 5 (OUT2) high right after loading a mode 0 count");
    if (dead) fail("PIT: OUT2 (port 0x61 bit 5) never went high in 100 ms");
    if (good == 0) {
        if (!dead) fail("PIT: every calibration run was disturbed (uncertainty > 0.1 %)");
        return 0;
    }
    for (int i = 1; i < good; i++) { /* insertion sort for the median */
        uint64_t x = khz[i];
        int j = i - 1;
        while (j >= 0 && khz[j] > x) { khz[j + 1] = khz[j]; j--; }
        khz[j + 1] = x;
    }
    return khz[good / 2];
}

/* ---------------------------------------------------------------- (b) and (c) */
static volatile uint32_t ticks, extra;
static volatile int inflight;
static uint64_t stamps[TICKS + 1];
static volatile uint32_t spurious7, real7;
static uint64_t ioapic_base;
static uint32_t ioapic_pin;

static void pic_tick(struct isr_frame *f) {
    (void)f;
    uint64_t now = rdtsc();
    if (ticks >= TICKS) {
        extra++;
    } else {
        stamps[++ticks] = now;
        if (ticks == TICKS) outb(PIC1_DATA, 0xFF); /* OCW1: mask IRQ0 (everything) */
    }
    outb(PIC1_CMD, PIC_OCW2_EOI);
}

static void ioapic_tick(struct isr_frame *f) {
    (void)f;
    uint64_t now = rdtsc();
    if (ticks >= TICKS) {
        extra++;
    } else {
        stamps[++ticks] = now;
        if (ticks == TICKS) {
            ioapic_mask(ioapic_base, ioapic_pin);
            /* An edge the local APIC accepted before the mask landed sits in its IRR and
             * will still be delivered (82093AA: masking stops further deliveries only). */
            uint32_t v = IOAPIC_VECTOR;
            inflight = (lapic_read(LAPIC_IRR0 + 0x10 * (v / 32)) >> (v % 32)) & 1;
        }
    }
    lapic_eoi();
}

static void irq7(struct isr_frame *f) {
    (void)f;
    if (pic_read_isr(0) & 0x80) {
        real7++;
        pic_eoi(7);
    } else {
        spurious7++; /* spurious: no EOI */
    }
}

struct result {
    uint32_t n, extra;
    int inflight;
    uint64_t avg, min_interval, max_interval;
};

/* Takes TICKS ticks (start() unmasks the source; the handlers mask it at the last one),
 * waits SETTLE_US for a wrong extra one, and summarises. */
static struct result take_ticks(void (*start)(void)) {
    struct result r = { 0, 0, 0, 0, 0, 0 };
    ticks = 0;
    extra = 0;
    inflight = 0;
    start();
    sti();
    uint64_t end = rdtsc() + tsc_from_us(WAIT_US);
    while (ticks < TICKS && rdtsc() < end) watchdog_poll();
    delay_us(SETTLE_US);
    cli();
    r.n = ticks;
    r.extra = extra;
    r.inflight = inflight;
    if (r.n == TICKS) {
        r.avg = (stamps[TICKS] - stamps[1]) / (TICKS - 1);
        r.min_interval = ~0ull;
        for (int i = 2; i <= TICKS; i++) {
            uint64_t d = stamps[i] - stamps[i - 1];
            if (d > r.max_interval) r.max_interval = d;
            if (d < r.min_interval) r.min_interval = d;
        }
    }
    return r;
}

/* Returns 1 if r passes: TICKS ticks, no extra beyond one already accepted by the local
 * APIC before the mask, average period within 1 % of expected (if the CPUID rate is known). */
static int judge(const char *what, struct result r, uint64_t expected, char *why, size_t len) {
    if (r.n != TICKS) {
        snprintf(why, len, "%s: %u ticks in %u ms, expected %u", what, r.n, WAIT_US / 1000, TICKS);
        return 0;
    }
    if (r.extra > (uint32_t)r.inflight) {
        snprintf(why, len, "%s: %u interrupts after the source was masked at tick %u", what, r.extra, TICKS);
        return 0;
    }
    if (expected && !within_1pct(r.avg, expected)) {
        snprintf(why, len, "%s: %lu TSC cycles per tick, expected %lu +- 1 %% (%ld ppm)", what,
                 r.avg, expected, deviation_ppm(r.avg, expected));
        return 0;
    }
    return 1;
}

/* Up to ATTEMPTS runs: a run that fails is repeated only if it was visibly disturbed: an
 * interval over 1.5 periods (a tick delayed or merged with the next while the vCPU was not
 * running - host load) or under half a period (ticks delivered late and then in a burst,
 * which also shows a delay before the first tick, itself no interval). The last run's
 * numbers are reported. */
static struct result measure(const char *what, void (*start)(void), uint64_t expected, int *attempts) {
    char why[160];
    struct result r;
    for (*attempts = 1;; (*attempts)++) {
        r = take_ticks(start);
        if (judge(what, r, expected, why, sizeof(why))) break;
        int disturbed = expected && r.n == TICKS &&
                        (r.max_interval * 2 > STALL_PERIODS_X2 * expected || r.min_interval < expected / 2);
        if (!disturbed || *attempts == ATTEMPTS) {
            fail(why);
            break;
        }
    }
    return r;
}

/* Re-initialising (ICW1 resets the edge-sense latches) drops an IRQ0 edge latched in IRR while
 * IRQ0 was masked after an earlier run, which would otherwise arrive at once as "tick 1".
 * IRQ0 is then unmasked by a separate OCW1, a masked -> unmasked change (KVM's in-kernel PIT
 * resets its tick re-injection backlog only on such a change; without it the ticks it held
 * back while IRQ0 was masked arrive as a burst). */
static void start_pic(void) {
    pic_init(PIC_VECTOR, PIC_VECTOR + 8, 0xFF, 0xFF);
    outb(PIC1_DATA, 0xFE); /* OCW1: only IRQ0 */
}

static uint32_t ioapic_low;
static void start_ioapic(void) {
    ioapic_set_entry(ioapic_base, ioapic_pin, ioapic_low, (uint8_t)lapic_id());
}

int main(void) {
    watchdog_arm(10, EXIT_TIMEOUT, "pic-pit: TIMEOUT");
    cli();
    uint64_t cpu_khz = cpuid_tsc_khz();

    /* (a) */
    uint64_t pit_khz = calibrate();
    printf("pit_tsc_khz=%lu cpuid_tsc_khz=%lu\n", pit_khz, cpu_khz);
    printf("tsc_source=%s\n", tsc_hz_source());
    if (!cpu_khz)
        fail("CPUID advertises no TSC frequency (0x15, 0x16, 0x40000010)");
    else if (pit_khz && !within_1pct(pit_khz, cpu_khz)) {
        char buf[160];
        snprintf(buf, sizeof(buf), "PIT-calibrated TSC %lu kHz vs CPUID %lu kHz (%ld ppm)",
                 pit_khz, cpu_khz, deviation_ppm(pit_khz, cpu_khz));
        fail(buf);
    }
    /* One PIT period in TSC cycles by the CPUID rate (0 if there is none). */
    uint64_t expected = cpu_khz * 1000 * PIT_1KHZ / PIT_HZ;

    /* (b) */
    idt_set_handler(PIC_VECTOR, pic_tick);
    idt_set_handler(0x27, irq7);
    pic_init(PIC_VECTOR, PIC_VECTOR + 8, 0xFF, 0xFF);
    outb(PIT_CMD, PIT_CW(0, 2));
    pit_load(PIT_CH0, PIT_1KHZ);
    int attempts;
    struct result r = measure("PIC", start_pic, expected, &attempts);
    printf("pic_ticks=%u pic_tick_tsc=%lu\n", r.n, r.avg);
    printf("expected_tick_tsc=%lu\n", expected);
    printf("pic_attempts=%d pic_min_interval_tsc=%lu pic_max_interval_tsc=%lu pic_extra=%u\n", attempts,
           r.min_interval, r.max_interval, r.extra);

    /* (c) */
    pic_mask_all();
    lapic_init(0);
    lapic_write(LAPIC_LVT_LINT0, lapic_read(LAPIC_LVT_LINT0) | LVT_MASKED);
    struct isa_route route = madt_isa_route(0);
    ioapic_base = madt_ioapic_base();
    ioapic_pin = route.gsi;
    ioapic_low = IOAPIC_VECTOR | route.red_flags; /* fixed, physical, unmasked */
    uint32_t pins = ioapic_pins(ioapic_base);
    printf("ioapic_pin=%u override=%d flags=0x%x\n", route.gsi, route.overridden, route.inti_flags);
    if (route.gsi >= pins) {
        char buf[160];
        snprintf(buf, sizeof(buf), "IRQ0 -> GSI %u but the I/O APIC has %u inputs", route.gsi, pins);
        fail(buf);
    } else {
        idt_set_handler(IOAPIC_VECTOR, ioapic_tick);
        r = measure("I/O APIC", start_ioapic, expected, &attempts);
        ioapic_mask(ioapic_base, ioapic_pin);
        printf("ioapic_ticks=%u\n", r.n);
        printf("ioapic_tick_tsc=%lu\n", r.avg);
        printf("ioapic_attempts=%d ioapic_min_interval_tsc=%lu ioapic_max_interval_tsc=%lu ioapic_extra=%u inflight=%d\n",
               attempts, r.min_interval, r.max_interval, r.extra, r.inflight);
    }
    pit_ch0_quiesce();
    printf("spurious_irq7=%u\n", spurious7);
    if (real7) printf("irq7_real=%u\n", real7);

    if (failed) {
        printf("pic-pit: FAIL %s\n", reason);
        return EXIT_TEST_FAIL;
    }
    printf("pic-pit: PASS\n");
    return EXIT_PASS;
}
