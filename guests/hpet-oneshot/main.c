/* hpet-oneshot: HPET timer 2 in non-legacy (I/O APIC) routing, one-shot comparator events.
 * Multiboot 1, one CPU.
 *
 * Set-up: 8259A pair re-initialised (0x20 / 0x28) and fully masked, local APIC
 * software-enabled with LINT0 masked (no ExtINT), the 8254's channel 0 stopped (mode 0,
 * count 65536: its last IRQ0 edge comes ~55 ms later and is waited out when timer 2 shares
 * I/O APIC input with IRQ0). HPET base from the ACPI HPET table, else 0xFED00000;
 * GEN_CONF.LEG_RT_CNF = 0. Timer 2's Tn_INT_ROUTE_CAP (Tn_CONF_CAP bits 63:32, HPET 1.0a
 * §2.3.8) picks the I/O APIC input: the lowest allowed pin >= 20, else the highest allowed
 * one, below the I/O APIC's redirection-entry count. Tn_INT_ROUTE_CNF must read back as
 * written (§2.3.8: an unsupported route reads back differently). The redirection entry:
 * vector 0x40, fixed, physical destination = BSP APIC ID, edge, active high (82093AA
 * §3.2.4). Timer 2: edge (Tn_INT_TYPE_CNF = 0), non-periodic, Tn_INT_ENB_CNF.
 *
 * Run A (64-bit, if Tn_SIZE_CAP and the main counter is 64-bit (COUNT_SIZE_CAP), else the
 * timer's native 32 bits): the main counter starts 10 events below 2^32, so comparators
 * cross into the upper half mid-run (64-bit MMIO accesses to the counter and comparator,
 * §2.3 allows 32- and 64-bit accesses). 20 events: comparator = main counter + ~200 us,
 * re-armed in the handler. In the handler the main counter must be >= the comparator
 * (one-shot mode: the interrupt is generated when the counter reaches the comparator,
 * §2.3.9.2.1), else `early` counts it.
 * Run B (Tn_32MODE_CNF = 1, only if Tn_SIZE_CAP; else "skipped"): the main counter starts at
 * 2^32 + 0x1000, so its upper half is 1 while a 32-bit-mode timer compares only the low
 * 32 bits (§2.3.8 Tn_32MODE_CNF); comparator written with 32-bit accesses; "not early"
 * means (uint32)(counter - comparator) < 2^31. The low half does not wrap during the run.
 * A comparator written after the counter already passed it cannot match in one-shot mode
 * (a 64-bit counter does not wrap), so when the counter read right after arming is already
 * past the comparator (the vCPU was descheduled between read and write) and nothing arrives
 * in 5 ms, it is re-armed (late_rearms); an interrupt that does come is judged as usual.
 * After the 20th event, 5 ms for a wrong extra interrupt.
 * Prints, each on its own line:
 *   hpet_base=0x<addr> period_fs=<n> timers=<n> counter64=<0|1>
 *   timer2_conf=0x<Tn_CONF_CAP 64 bits> route_cap=0x<n> pin=<n> ioapic_pins=<n>
 *   hpet_oneshot_fired=<n> early=<n>                      (run A)
 *   oneshot_mode=<64|32> late_rearms=<n> extra=<n> latency_max_us=<n>
 *   hpet_oneshot32_fired=<n> early=<n> late_rearms=<n> extra=<n> latency_max_us=<n>
 *     | hpet_oneshot32=skipped (timer 2 Tn_SIZE_CAP = 0)
 *   hpet-oneshot: PASS (v=0) | FAIL <reason> (v=3) | TIMEOUT (v=4, 50 s watchdog, tsc.h)
 * Pass: each run 20 events, early = 0, extra = 0. */
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "tsc.h"
#include "../pic-pit/legacy_hw.h" /* shared with pic-pit, as the -x2apic guests share sources */

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4

#define EVENTS         20
#define TIMER          2
#define VECTOR         0x40
#define DELTA_US       200
#define LATE_WAIT_US   5000u
#define SETTLE_US      5000u

static int failed;
static char reason[160];

static void fail(const char *what) {
    if (!failed) snprintf(reason, sizeof(reason), "%s", what);
    failed = 1;
}

static uint64_t hpet, ioapic_base;
static uint32_t period_fs, pin;
static uint64_t delta; /* HPET ticks in DELTA_US */

static int mode32;
static volatile uint32_t events, early, extra, late, late_rearms;
static volatile uint64_t cmp, late_tsc, max_latency;
static volatile uint32_t spurious_pic;

static uint64_t counter(void) {
    return mode32 ? hpet_r32(hpet, HPET_MAIN_CNT) : hpet_r64(hpet, HPET_MAIN_CNT);
}

/* Has the counter reached the comparator? (32-bit mode: modulo 2^32.) */
static int reached(uint64_t now, uint64_t c) {
    if (mode32) return (int32_t)((uint32_t)now - (uint32_t)c) >= 0;
    return now >= c;
}

/* Arms timer 2 at counter + delta (interrupts off). */
static void arm(void) {
    uint64_t c = counter() + delta;
    if (mode32) {
        c = (uint32_t)c;
        hpet_w32(hpet, HPET_TN_CMP(TIMER), (uint32_t)c);
    } else {
        hpet_w64(hpet, HPET_TN_CMP(TIMER), c);
    }
    cmp = c;
    if (reached(counter(), c)) {
        late = 1;
        late_tsc = rdtsc();
    } else {
        late = 0;
    }
}

static void timer_isr(struct isr_frame *f) {
    (void)f;
    uint64_t now = counter();
    if (events >= EVENTS) {
        extra++;
    } else {
        events++;
        if (!reached(now, cmp)) {
            early++;
        } else {
            uint64_t lat = mode32 ? (uint32_t)((uint32_t)now - (uint32_t)cmp) : now - cmp;
            if (lat > max_latency) max_latency = lat;
        }
        late = 0;
        if (events < EVENTS) arm();
    }
    lapic_eoi();
}

static void pic_spurious(struct isr_frame *f) {
    (void)f;
    spurious_pic++; /* everything is masked at the 8259s: only spurious IR7/IR15 can come */
    if (f->vector == 0x2F) outb(PIC1_CMD, PIC_OCW2_EOI);
}

struct run {
    uint32_t fired, early, extra, late_rearms;
    uint64_t latency_us;
};

/* use32: 32-bit comparator arithmetic and accesses; set_32mode: also Tn_32MODE_CNF (a 64-bit
 * timer forced to 32 bits; a 32-bit-only timer needs no bit). */
static struct run run(int use32, int set_32mode, uint64_t start, uint32_t base_conf) {
    struct run r;
    cli();
    mode32 = use32;
    hpet_w32(hpet, HPET_GEN_CONF, 0); /* halt, legacy replacement off */
    uint32_t conf = base_conf | (set_32mode ? HPET_TN_32MODE : 0);
    hpet_w32(hpet, HPET_TN_CONF(TIMER), conf);
    hpet_w64(hpet, HPET_MAIN_CNT, start); /* written while halted (§2.3.7) */
    hpet_w32(hpet, HPET_GINTR_STA, 0xFFFFFFFFu);
    events = early = extra = late = late_rearms = 0;
    max_latency = 0;
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_ENABLE);
    arm();
    hpet_w32(hpet, HPET_TN_CONF(TIMER), conf | HPET_TN_INT_ENB);
    sti();
    uint64_t end = rdtsc() + tsc_from_us(COUNT_WAIT_US);
    while (events < EVENTS && rdtsc() < end) {
        if (late && rdtsc() - late_tsc > tsc_from_us(LATE_WAIT_US)) {
            cli();
            if (late && events < EVENTS) {
                late_rearms++;
                arm();
            }
            sti();
        }
        watchdog_poll();
    }
    delay_us(SETTLE_US);
    cli();
    hpet_w32(hpet, HPET_TN_CONF(TIMER), conf);
    hpet_w32(hpet, HPET_GEN_CONF, 0);
    r.fired = events;
    r.early = early;
    r.extra = extra;
    r.late_rearms = late_rearms;
    r.latency_us = max_latency * period_fs / 1000000000ull;
    return r;
}

static void judge(const char *name, struct run r) {
    char buf[160];
    if (r.fired != EVENTS)
        snprintf(buf, sizeof(buf), "%s: %u of %u one-shot events fired", name, r.fired, EVENTS);
    else if (r.early)
        snprintf(buf, sizeof(buf), "%s: %u events before the counter reached the comparator", name, r.early);
    else if (r.extra)
        snprintf(buf, sizeof(buf), "%s: %u interrupts after the last event", name, r.extra);
    else
        return;
    fail(buf);
}

int main(void) {
    watchdog_arm(TIMER_WATCHDOG_S, EXIT_TIMEOUT, "hpet-oneshot: TIMEOUT");
    cli();
    /* Quiet the legacy side: PIC masked (vectors moved off the exception range), no
     * ExtINT through LINT0, the 8254 stopped. */
    idt_set_handler(0x27, pic_spurious);
    idt_set_handler(0x2F, pic_spurious);
    pic_init(0x20, 0x28, 0xFF, 0xFF);
    pit_ch0_quiesce();
    uint64_t quiesce_tsc = rdtsc();
    lapic_init(0);
    lapic_write(LAPIC_LVT_LINT0, lapic_read(LAPIC_LVT_LINT0) | LVT_MASKED);

    int from_acpi;
    hpet = hpet_base_from_acpi(&from_acpi);
    uint64_t cap = hpet_r64(hpet, HPET_GCAP_ID);
    period_fs = (uint32_t)(cap >> 32);
    uint32_t timers = (uint32_t)((cap >> 8) & 0x1F) + 1;
    int counter64 = (cap & HPET_CAP_COUNT64) != 0;
    printf("hpet_base=0x%lx period_fs=%u timers=%u counter64=%d\n", hpet, period_fs, timers, counter64);
    if ((uint32_t)cap == 0xFFFFFFFFu || period_fs == 0 || period_fs > HPET_MAX_PERIOD_FS) {
        printf("hpet-oneshot: FAIL no HPET at 0x%lx (GCAP_ID 0x%lx)\n", hpet, cap);
        return EXIT_TEST_FAIL;
    }
    if (timers <= TIMER) {
        printf("hpet-oneshot: FAIL only %u timers (NUM_TIM_CAP), need timer %d\n", timers, TIMER);
        return EXIT_TEST_FAIL;
    }
    delta = (uint64_t)DELTA_US * 1000000000ull / period_fs;

    hpet_w32(hpet, HPET_GEN_CONF, 0);
    uint64_t t2 = hpet_r64(hpet, HPET_TN_CONF(TIMER));
    uint32_t route_cap = (uint32_t)(t2 >> 32);
    ioapic_base = madt_ioapic_base();
    uint32_t pins = ioapic_pins(ioapic_base);
    int chosen = -1;
    for (uint32_t p = 20; p < pins && p < 32; p++)
        if (route_cap & (1u << p)) { chosen = (int)p; break; }
    if (chosen < 0)
        for (int p = (int)(pins < 32 ? pins : 32) - 1; p >= 0; p--)
            if (route_cap & (1u << p)) { chosen = p; break; }
    printf("timer2_conf=0x%lx route_cap=0x%x pin=%d ioapic_pins=%u\n", t2, route_cap, chosen, pins);
    if (chosen < 0) {
        printf("hpet-oneshot: FAIL timer 2 Tn_INT_ROUTE_CAP 0x%x allows no input below %u\n", route_cap, pins);
        return EXIT_TEST_FAIL;
    }
    pin = (uint32_t)chosen;

    /* Timer 2: route to pin, edge, one-shot, interrupt still disabled; check the route. */
    uint32_t base_conf = (pin << HPET_TN_ROUTE_SHIFT);
    hpet_w32(hpet, HPET_TN_CONF(TIMER), base_conf);
    uint32_t back = (hpet_r32(hpet, HPET_TN_CONF(TIMER)) & HPET_TN_ROUTE_MASK) >> HPET_TN_ROUTE_SHIFT;
    if (back != pin) {
        printf("hpet-oneshot: FAIL Tn_INT_ROUTE_CNF reads back %u after writing allowed pin %u\n", back, pin);
        return EXIT_TEST_FAIL;
    }

    /* If IRQ0 (the 8254) shares this input, let its last edge pass while the entry is still
     * masked (a masked edge-triggered input drops the edge, 82093AA §3.2.4 bit 16). */
    struct isa_route irq0 = madt_isa_route(0);
    if (pin == irq0.gsi || pin == 0)
        while (rdtsc() - quiesce_tsc < tsc_from_us(60000)) watchdog_poll();
    idt_set_handler(VECTOR, timer_isr);
    ioapic_set_entry(ioapic_base, pin, VECTOR, (uint8_t)lapic_id()); /* edge, high, unmasked */

    int wide = (t2 & HPET_TN_SIZE_CAP) && counter64;
    struct run a = run(!wide, 0, wide ? 0x100000000ull - 10 * delta : 0, base_conf);
    printf("hpet_oneshot_fired=%u early=%u\n", a.fired, a.early);
    printf("oneshot_mode=%d late_rearms=%u extra=%u latency_max_us=%lu\n", wide ? 64 : 32,
           a.late_rearms, a.extra, a.latency_us);
    judge(wide ? "64-bit" : "32-bit", a);

    if (t2 & HPET_TN_SIZE_CAP) {
        struct run b = run(1, 1, counter64 ? 0x100001000ull : 0x1000, base_conf);
        printf("hpet_oneshot32_fired=%u early=%u late_rearms=%u extra=%u latency_max_us=%lu\n",
               b.fired, b.early, b.late_rearms, b.extra, b.latency_us);
        judge("32-bit mode", b);
    } else {
        printf("hpet_oneshot32=skipped (timer 2 Tn_SIZE_CAP = 0)\n");
    }
    ioapic_mask(ioapic_base, pin);
    if (spurious_pic) printf("spurious_pic=%u\n", spurious_pic);

    if (failed) {
        printf("hpet-oneshot: FAIL %s\n", reason);
        return EXIT_TEST_FAIL;
    }
    printf("hpet-oneshot: PASS\n");
    return EXIT_PASS;
}
