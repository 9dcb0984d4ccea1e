/* hpet-legacy: the HPET in legacy replacement mode driving the 8259A through the BSP's
 * virtual-wire LINT0 (the "composite" path a PC-compatible OS uses before it touches the
 * local APIC). Multiboot 1, one CPU; the local APIC is not touched at all.
 *
 *   1. HPET base from the ACPI HPET table (else 0xFED00000); GCAP_ID must report
 *      LEG_RT_CAP, a period 0 < p <= 0x05F5E100 fs and timer 0 Tn_PER_INT_CAP (HPET 1.0a
 *      §2.3.4, §2.3.8).
 *   2. Halt: GEN_CONF = 0, every timer's Tn_INT_ENB_CNF cleared, GINTR_STA cleared (write 1s),
 *      main counter = 0 (written while halted, §2.3.7). The 8254's channel 0 is set to
 *      mode 0 with count 65536 (as Linux shuts the PIT down): its one remaining IRQ0 edge,
 *      ~55 ms later, falls inside the run and must be cut off by step 3.
 *   3. GEN_CONF.LEG_RT_CNF = 1 (§2.3.5: timer 0 -> 8259 IRQ0 / I/O APIC input 2, timer 1 ->
 *      IRQ8; the 8254 and RTC no longer reach those lines).
 *   4. Timer 0: periodic (Tn_TYPE_CNF), level-triggered (Tn_INT_TYPE_CNF = 1), Tn_INT_ENB_CNF,
 *      Tn_VAL_SET_CNF, 32-bit mode like Linux's clockevent (Tn_32MODE_CNF, if Tn_SIZE_CAP);
 *      comparator written twice with round(10^12 fs / period) ticks (1 ms): the first write
 *      (VAL_SET set) sets the accumulator, the second (VAL_SET self-cleared) the period
 *      (§2.3.9.2.2; implementations differ on which write sets what, the double write
 *      satisfies all of them - Linux hpet_set_periodic does the same). All HPET accesses
 *      here are 32-bit, as Linux makes them.
 *   5. 8259A pair re-initialised (ICW1-4: 0x20 / 0x28, cascade on IR2, 8086 mode) with ALL
 *      lines unmasked (OCW1 0x00 on both). The re-init also resets the edge-sense latches, so
 *      no IRQ0 edge from the 8254 before step 3 survives.
 *   6. GEN_CONF = LEG_RT_CNF | ENABLE_CNF, sti.
 * IRQ0 handler (vector 0x20): reads GINTR_STA; if bit 0 (timer 0 active, level mode) is set,
 * writes 1 to clear it (the level line drops, so the next period makes a new edge at the
 * 8259) and counts a tick; at tick 200 it stops timer 0 (Tn_INT_ENB_CNF = 0) and halts the
 * main counter, so nothing may follow - unless the counter had already passed a 201st
 * comparator match when it did (the handler ran late), when one more may come, as on
 * hardware: the status bit of that match is set. The count read back from the halted
 * counter says how many matches there were, on the HPET's own timeline.
 * An IRQ0 without bit 0 set counts as stray_irq0.
 * Then a non-specific EOI to the master. Vector 0x27: spurious if the master ISR bit 7 is
 * clear (no EOI), 0x2F: spurious if the slave ISR bit 7 is clear (EOI to the master only,
 * which did take the cascade) - 8259A datasheet. Any other IRQ is counted in other_irqs
 * (a bit mask), masked (a level source would storm) and EOIed; it does not fail the test.
 *
 * Measurement: tsc_per_ms = TSC cycles per 10^12 fs of HPET time, from the period of the
 * on-time ticks (tick_fit in host_delay.h: the least-late settled ticks of the first and
 * last 50, 100-198 periods apart), within 1 % of the CPUID rate. Why that holds on a slow
 * or busy host, and when a run is repeated or the rate left unjudged (hpet_rate=unjudged),
 * is as for pic-pit (b); see its header and guests/README.md. Also, from the main counter
 * read in the handler at ticks 1 and 200, hpet_counter_tsc_per_ms (HPET clock rate against
 * the TSC, for the record).
 * Prints, each on its own line:
 *   hpet_base=0x<addr> acpi=<0|1> period_fs=<n> timers=<n> ticks_per_ms=<n> t0_conf=0x<n>
 *   port_exit_tsc=<n>
 *   hpet_ticks=<n> tsc_per_ms=<n> cpuid_tsc_khz=<n> error_ppm=<n>
 *   hpet_counter_tsc_per_ms=<n> counter_error_ppm=<n>
 *   hpet_attempts=<n> anchors=<i>,<j> latest_tsc=<n> min_interval_tsc=<n> max_interval_tsc=<n>
 *     missed=<n> bunched=<n> extra_ticks=<n> late_at_stop=<0|1> host_delays=<n>
 *   [hpet_rate=unjudged (...)]
 *   spurious_irq7=<n> spurious_irq15=<n> stray_irq0=<n> other_irqs=0x<mask>
 *   ioapic_pin=<n> ioapic_ticks=<n>  [ioapic_late_at_stop=1 ioapic_extra=<n>]
 *   hpet-legacy: PASS (v=0) | hpet-legacy: FAIL <reason> (v=3) | hpet-legacy: TIMEOUT (v=4)
 * Pass: 200 ticks, none after the stop (one if late_at_stop), no stray IRQ0, the rate as
 * above; then 20 ticks through the I/O APIC with the same rule for the stop. */
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "tsc.h"
#include "host_delay.h"
#include "../pic-pit/legacy_hw.h" /* shared with pic-pit, as the -x2apic guests share sources */

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4

#define TICKS          200
#define IRQ0_VECTOR    0x20
#define SETTLE_US      10000u
#define ATTEMPTS       3

static int failed;
static char reason[160];

static void fail(const char *what) {
    if (!failed) snprintf(reason, sizeof(reason), "%s", what);
    failed = 1;
}

static uint64_t hpet;
static uint32_t num_timers, period_fs, ticks_per_ms;

static volatile uint32_t ticks, extra, stray0, spurious7, spurious15, other_mask;
static uint64_t stamps[TICKS + 1];
static uint8_t delayed[TICKS + 1];
static volatile uint32_t cnt_first, cnt_last;
static volatile uint32_t stop_count; /* the main counter, halted by the handler's stop */

/* 32-bit read of the low half of the main counter (the counter starts at 0 each run, and
 * 64 ms are far below the 2^32-tick wrap at the allowed periods). */
static uint32_t counter_lo(void) { return hpet_r32(hpet, HPET_MAIN_CNT); }

/* Comparator matches by the stop: the counter starts at 0 and timer 0 matches at every
 * multiple of its period (the comparator and the period are both ticks_per_ms). */
static uint32_t matches_at_stop(void) { return stop_count / ticks_per_ms; }

static void hpet_stop(void) {
    uint32_t c = hpet_r32(hpet, HPET_TN_CONF(0));
    hpet_w32(hpet, HPET_TN_CONF(0), c & ~(HPET_TN_INT_ENB | HPET_TN_PERIODIC));
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_LEG_RT); /* ENABLE_CNF = 0: counter halted */
}

static void irq0(struct isr_frame *f) {
    (void)f;
    uint64_t now = rdtsc();
    if (hpet_r32(hpet, HPET_GINTR_STA) & 1) {
        hpet_w32(hpet, HPET_GINTR_STA, 1); /* RW1C: deassert the level interrupt */
        if (ticks >= TICKS) {
            extra++;
        } else {
            stamps[++ticks] = now;
            delayed[ticks] = (uint8_t)host_delay_mark();
            if (ticks == 1) cnt_first = counter_lo();
            if (ticks == TICKS) {
                cnt_last = counter_lo();
                hpet_stop();
                stop_count = counter_lo();
            }
        }
    } else {
        stray0++;
    }
    outb(PIC1_CMD, PIC_OCW2_EOI);
}

static void other_irq(struct isr_frame *f) {
    unsigned irq = (unsigned)(f->vector - IRQ0_VECTOR);
    if (irq == 7 && !(pic_read_isr(0) & 0x80)) {
        spurious7++;
        return;
    }
    if (irq == 15 && !(pic_read_isr(1) & 0x80)) {
        spurious15++;
        outb(PIC1_CMD, PIC_OCW2_EOI);
        return;
    }
    other_mask |= 1u << irq;
    if (irq >= 8)
        outb(PIC2_DATA, (uint8_t)(inb(PIC2_DATA) | (1u << (irq - 8))));
    else
        outb(PIC1_DATA, (uint8_t)(inb(PIC1_DATA) | (1u << irq)));
    pic_eoi(irq);
}

/* Phase 2: after calibrating, the kernel moves to the I/O APIC, as a kernel routes its
 * device interrupts once it is up: the 8259 fully masked, IRQ0 (the MADT says which pin)
 * level-triggered to this CPU's local APIC, the HPET's level interrupt held until the
 * handler clears its status bit, then a local APIC EOI, whose broadcast clears the I/O
 * APIC's Remote IRR (82093AA §3.2.4; SDM Vol. 3A §11.8.5). */
#define IOAPIC_VECTOR  0x31
#define IOAPIC_TICKS   20
static volatile uint32_t ioapic_ticks;

static void ioapic_irq0(struct isr_frame *f) {
    (void)f;
    if (hpet_r32(hpet, HPET_GINTR_STA) & 1) {
        hpet_w32(hpet, HPET_GINTR_STA, 1);
        if (++ioapic_ticks == IOAPIC_TICKS) {
            hpet_stop();
            stop_count = counter_lo();
        }
    }
    lapic_eoi();
}

/* 20 ticks through the I/O APIC, and none after the stop - or one, if the counter had
 * passed a 21st match when the handler stopped it (matches_at_stop). */
static int route_through_ioapic(uint32_t t0_conf) {
    pic_mask_all();
    lapic_init(0);
    struct isa_route route = madt_isa_route(0);
    uint64_t ioapic = madt_ioapic_base();
    idt_set_handler(IOAPIC_VECTOR, ioapic_irq0);
    ioapic_set_entry(ioapic, route.gsi, IOAPIC_VECTOR | IORED_LEVEL, (uint8_t)lapic_id());
    hpet_w32(hpet, HPET_GINTR_STA, 0xFFFFFFFFu);
    hpet_w32(hpet, HPET_MAIN_CNT, 0);              /* halted since tick 64: restart from 0 */
    hpet_w32(hpet, HPET_MAIN_CNT + 4, 0);
    hpet_w32(hpet, HPET_TN_CONF(0), t0_conf);
    hpet_w32(hpet, HPET_TN_CMP(0), ticks_per_ms);
    hpet_w32(hpet, HPET_TN_CMP(0), ticks_per_ms);
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_LEG_RT | HPET_CONF_ENABLE);
    sti();
    uint64_t end = rdtsc() + tsc_from_us(COUNT_WAIT_US);
    while (ioapic_ticks < IOAPIC_TICKS && rdtsc() < end) cpu_relax();
    delay_us(SETTLE_US);
    cli();
    ioapic_mask(ioapic, route.gsi);
    int late = ioapic_ticks >= IOAPIC_TICKS && matches_at_stop() > IOAPIC_TICKS;
    uint32_t counted = ioapic_ticks;
    if (late && counted == IOAPIC_TICKS + 1) counted = IOAPIC_TICKS;
    printf("ioapic_pin=%u ioapic_ticks=%u\n", route.gsi, counted);
    if (late) printf("ioapic_late_at_stop=1 ioapic_extra=%u\n", ioapic_ticks - IOAPIC_TICKS);
    return counted == IOAPIC_TICKS;
}

struct result {
    uint32_t n, extra, host_delays;
    int late_at_stop;    /* a 201st tick was due when the handler stopped timer 0 */
    uint64_t dtsc;
    uint32_t dcount;
    struct tick_fit fit;
};

/* One run of TICKS ticks; `period_tsc` is one HPET period by the CPUID rate, `delay_limit`
 * the stretch that counts as a host delay (host_delay.h). */
static struct result run_once(uint32_t t0_conf, uint64_t period_tsc, uint64_t delay_limit) {
    struct result r = { 0 };
    cli();
    /* Step 2: halt and reset. */
    hpet_w32(hpet, HPET_GEN_CONF, 0);
    for (uint32_t t = 0; t < num_timers; t++) {
        uint32_t c = hpet_r32(hpet, HPET_TN_CONF(t));
        hpet_w32(hpet, HPET_TN_CONF(t), c & ~(HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_FSB_EN));
    }
    hpet_w32(hpet, HPET_GINTR_STA, 0xFFFFFFFFu);
    hpet_w32(hpet, HPET_MAIN_CNT, 0);
    hpet_w32(hpet, HPET_MAIN_CNT + 4, 0);
    /* Stop the 8254's periodic IRQ0 (mode 0, count 65536: one more edge ~55 ms later, i.e.
     * inside the run) as an OS does before it switches to the HPET. With LEG_RT_CNF the 8254
     * must not reach IRQ0 at all, so that edge must not show up as a stray IRQ0. */
    pit_ch0_quiesce();
    /* Step 3: legacy replacement on, counter still halted. */
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_LEG_RT);
    /* Step 4: timer 0 periodic, level, 1 ms. */
    hpet_w32(hpet, HPET_TN_CONF(0), t0_conf);
    hpet_w32(hpet, HPET_TN_CMP(0), ticks_per_ms);
    hpet_w32(hpet, HPET_TN_CMP(0), ticks_per_ms);
    /* Step 5: the PIC pair, everything unmasked. */
    pic_init(IRQ0_VECTOR, IRQ0_VECTOR + 8, 0x00, 0x00);
    ticks = 0;
    extra = 0;
    host_delay_start(delay_limit);
    /* Step 6. */
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_LEG_RT | HPET_CONF_ENABLE);
    sti();
    uint64_t end = rdtsc() + tsc_from_us(COUNT_WAIT_US);
    while (ticks < TICKS && rdtsc() < end) {
        watchdog_poll();
        host_delay_poll();
    }
    delay_us(SETTLE_US);
    cli();
    hpet_stop();
    r.n = ticks;
    r.extra = extra;
    r.host_delays = host_delay_count();
    if (r.n == TICKS) {
        r.dtsc = stamps[TICKS] - stamps[1];
        r.dcount = cnt_last - cnt_first;
        r.fit = tick_fit(stamps, delayed, TICKS, period_tsc);
        r.late_at_stop = matches_at_stop() > TICKS;
    }
    return r;
}

int main(void) {
    watchdog_arm(TIMER_WATCHDOG_S, EXIT_TIMEOUT, "hpet-legacy: TIMEOUT");
    cli();
    uint64_t cpu_khz = cpuid_tsc_khz();
    int from_acpi;
    hpet = hpet_base_from_acpi(&from_acpi);
    uint32_t cap = hpet_r32(hpet, HPET_GCAP_ID);
    period_fs = hpet_r32(hpet, HPET_GCAP_ID + 4);
    num_timers = ((cap >> 8) & 0x1F) + 1;
    uint32_t t0cap = hpet_r32(hpet, HPET_TN_CONF(0));
    if (period_fs) ticks_per_ms = (uint32_t)((1000000000000ull + period_fs / 2) / period_fs);

    uint32_t conf = HPET_TN_INT_TYPE_LEVEL | HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_VAL_SET;
    if (t0cap & HPET_TN_SIZE_CAP) conf |= HPET_TN_32MODE;
    printf("hpet_base=0x%lx acpi=%d period_fs=%u timers=%u ticks_per_ms=%u t0_conf=0x%x\n",
           hpet, from_acpi, period_fs, num_timers, ticks_per_ms, t0cap);

    if (cap == 0xFFFFFFFFu || period_fs == 0 || period_fs > HPET_MAX_PERIOD_FS) {
        printf("hpet-legacy: FAIL no HPET at 0x%lx (GCAP_ID 0x%x, period %u fs)\n", hpet, cap, period_fs);
        return EXIT_TEST_FAIL;
    }
    if (!(cap & HPET_CAP_LEG_RT)) {
        printf("hpet-legacy: FAIL GCAP_ID.LEG_RT_CAP (bit 15) clear\n");
        return EXIT_TEST_FAIL;
    }
    if (!(t0cap & HPET_TN_PER_INT_CAP)) {
        printf("hpet-legacy: FAIL timer 0 not periodic-capable (Tn_PER_INT_CAP)\n");
        return EXIT_TEST_FAIL;
    }
    if (!cpu_khz) fail("CPUID advertises no TSC frequency (0x15, 0x16, 0x40000010)");

    idt_set_handler(IRQ0_VECTOR, irq0);
    for (int v = IRQ0_VECTOR + 1; v < IRQ0_VECTOR + 16; v++) idt_set_handler((uint8_t)v, other_irq);

    /* One HPET period (ticks_per_ms HPET clocks) in TSC cycles by the CPUID rate, and the
     * stretch that counts as a host delay: a quarter period, or 20 exits where exits are
     * that slow (an interrupt and its handler take a few). */
    uint64_t period_ps = (uint64_t)ticks_per_ms * period_fs / 1000;
    uint64_t period_tsc = cpu_khz * period_ps / 1000000000ull;
    uint64_t delay_limit = (period_tsc ? period_tsc : tsc_from_us(1000)) / 4;
    uint64_t exit_tsc = port_exit_tsc();
    if (delay_limit < 20 * exit_tsc) delay_limit = 20 * exit_tsc;
    printf("port_exit_tsc=%lu\n", exit_tsc);
    struct result r;
    uint64_t tsc_per_ms = 0;
    long err = 0;
    int attempts, unjudged = 0;
    char why[160];
    for (attempts = 1;; attempts++) {
        r = run_once(conf, period_tsc, delay_limit);
        unjudged = 0;
        int ok = 1;
        if (r.n != TICKS) {
            snprintf(why, sizeof(why), "%u HPET ticks in %u ms, expected %u", r.n, COUNT_WAIT_US / 1000, TICKS);
            ok = 0;
        } else if (r.extra > (uint32_t)r.late_at_stop) {
            snprintf(why, sizeof(why), "%u ticks after timer 0 was stopped at tick %u (late_at_stop=%d)", r.extra, TICKS,
                     r.late_at_stop);
            ok = 0;
        } else if (cpu_khz && !r.fit.first) {
            snprintf(why, sizeof(why), "host delays before every tick of the first or the last %u", TICKS / 4);
            ok = 0;
            unjudged = 1;
        } else if (cpu_khz) {
            /* TSC cycles per 10^9 ps (1 ms) of HPET time, from the on-time ticks' period. */
            tsc_per_ms = r.fit.period * 1000000000ull / period_ps;
            err = deviation_ppm(tsc_per_ms, cpu_khz);
            if (!within_1pct(tsc_per_ms, cpu_khz)) {
                unjudged = late_ticks_explain(r.fit);
                snprintf(why, sizeof(why), "HPET-measured TSC %lu per ms vs CPUID %lu kHz (%ld ppm, ticks %u to %u)%s",
                         tsc_per_ms, cpu_khz, err, r.fit.first, r.fit.last, unjudged ? ", with ticks late" : "");
                ok = 0;
            }
        }
        if (ok) break;
        if (!unjudged) {
            fail(why);
            break;
        }
        if (attempts == ATTEMPTS) {
            printf("%s\n", why);
            break;
        }
    }
    printf("hpet_ticks=%u tsc_per_ms=%lu cpuid_tsc_khz=%lu error_ppm=%ld\n", r.n, tsc_per_ms, cpu_khz, err);
    uint64_t counter_tsc_per_ms = 0;
    if (r.n == TICKS && r.dcount)
        counter_tsc_per_ms = r.dtsc * 1000000000ull / ((uint64_t)r.dcount * period_fs / 1000);
    printf("hpet_counter_tsc_per_ms=%lu counter_error_ppm=%ld\n", counter_tsc_per_ms,
           deviation_ppm(counter_tsc_per_ms, cpu_khz));
    printf("hpet_attempts=%d anchors=%u,%u latest_tsc=%lu min_interval_tsc=%lu max_interval_tsc=%lu missed=%u "
           "bunched=%u extra_ticks=%u late_at_stop=%d host_delays=%u\n",
           attempts, r.fit.first, r.fit.last, r.fit.latest, r.fit.shortest, r.fit.longest, r.fit.missed,
           r.fit.bunched, r.extra, r.late_at_stop, r.host_delays);
    if (unjudged) printf("hpet_rate=unjudged (the host kept the vCPU from running in every run)\n");
    printf("spurious_irq7=%u spurious_irq15=%u stray_irq0=%u other_irqs=0x%x\n", spurious7,
           spurious15, stray0, other_mask);
    if (stray0) {
        snprintf(why, sizeof(why), "%u IRQ0s without HPET timer 0 status (8254 not cut off by LEG_RT_CNF?)", stray0);
        fail(why);
    }
    if (!failed && !route_through_ioapic(conf)) fail("HPET ticks through the I/O APIC stopped or came extra");
    if (failed) {
        printf("hpet-legacy: FAIL %s\n", reason);
        return EXIT_TEST_FAIL;
    }
    printf("hpet-legacy: PASS\n");
    return EXIT_PASS;
}
