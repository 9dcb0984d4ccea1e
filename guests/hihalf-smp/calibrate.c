#include "calibrate.h"
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "../pic-pit/legacy_hw.h" /* 8259A, 8254, HPET registers, shared with pic-pit */

#define IRQ0_VECTOR 0x20
#define WAIT_MS     5000
#define ATTEMPTS    3

/* LVT delivery modes (SDM Vol. 3A §11.5.1, bits 10:8). */
#define LVT_DM_NMI    (4u << 8)
#define LVT_DM_EXTINT (7u << 8)

static uint64_t hpet;
static volatile uint32_t ticks, stray;
/* The TSC and main counter anchored at the first and the last tick. */
static uint64_t first_tsc, first_count, last_tsc, last_count;

#define ANCHOR_READS 4

/* The main counter and the TSC at one moment: the counter read (an exit to the VMM) between
 * two TSC reads, the midpoint kept, the tightest of ANCHOR_READS tries. A host that
 * preempts the vCPU during one read widens that bracket only. */
static void anchor(uint64_t *tsc, uint64_t *counter) {
    uint64_t best = ~0ull;
    for (int i = 0; i < ANCHOR_READS; i++) {
        uint64_t before = rdtsc();
        uint32_t value = hpet_r32(hpet, HPET_MAIN_CNT);
        uint64_t after = rdtsc();
        if (after - before < best) {
            best = after - before;
            *tsc = before + (after - before) / 2;
            *counter = value;
        }
    }
}

static void hpet_stop(void) {
    uint32_t c = hpet_r32(hpet, HPET_TN_CONF(0));
    hpet_w32(hpet, HPET_TN_CONF(0), c & ~(HPET_TN_INT_ENB | HPET_TN_PERIODIC));
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_LEG_RT); /* ENABLE_CNF = 0: counter halted */
}

/* IRQ0 (level-triggered HPET timer 0): clear its status bit so the line drops and the next
 * period makes a new edge at the 8259A, record the TSC and main counter, EOI the master. */
static void irq0(struct isr_frame *f) {
    (void)f;
    if (hpet_r32(hpet, HPET_GINTR_STA) & 1) {
        hpet_w32(hpet, HPET_GINTR_STA, 1);
        if (ticks <= CALIBRATION_TICKS) {
            uint32_t t = ++ticks;
            if (t == 1) anchor(&first_tsc, &first_count);
            if (t == CALIBRATION_TICKS + 1) anchor(&last_tsc, &last_count);
            if (t == CALIBRATION_TICKS + 1) hpet_stop();
        }
    } else {
        stray++;
    }
    outb(PIC1_CMD, PIC_OCW2_EOI);
}

/* IRQ7/IRQ15 with the in-service bit clear are the 8259A's spurious interrupts: no EOI for
 * the chip that made them (8259A datasheet). Anything else counts as stray. */
static void other_irq(struct isr_frame *f) {
    unsigned irq = (unsigned)(f->vector - IRQ0_VECTOR);
    if (irq == 7 && !(pic_read_isr(0) & 0x80)) return;
    if (irq == 15 && !(pic_read_isr(1) & 0x80)) {
        outb(PIC1_CMD, PIC_OCW2_EOI);
        return;
    }
    stray++;
    pic_eoi(irq);
}

static void run_once(uint32_t t0_conf, uint32_t ticks_per_ms, uint32_t num_timers) {
    cli();
    hpet_w32(hpet, HPET_GEN_CONF, 0);
    for (uint32_t t = 0; t < num_timers; t++) {
        uint32_t c = hpet_r32(hpet, HPET_TN_CONF(t));
        hpet_w32(hpet, HPET_TN_CONF(t), c & ~(HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_FSB_EN));
    }
    hpet_w32(hpet, HPET_GINTR_STA, 0xFFFFFFFFu);
    hpet_w32(hpet, HPET_MAIN_CNT, 0);
    hpet_w32(hpet, HPET_MAIN_CNT + 4, 0);
    pit_ch0_quiesce();                          /* the 8254 leaves IRQ0 to the HPET */
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_LEG_RT);
    /* Periodic timer 0: the first comparator write (VAL_SET) sets the accumulator, the
     * second the period (§2.3.9.2.2; Linux's hpet_set_periodic writes twice too). */
    hpet_w32(hpet, HPET_TN_CONF(0), t0_conf);
    hpet_w32(hpet, HPET_TN_CMP(0), ticks_per_ms);
    hpet_w32(hpet, HPET_TN_CMP(0), ticks_per_ms);
    pic_init(IRQ0_VECTOR, IRQ0_VECTOR + 8, 0xFE, 0xFF); /* only IRQ0 unmasked */
    ticks = 0;
    stray = 0;
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_LEG_RT | HPET_CONF_ENABLE);
    sti();
    uint64_t end = rdtsc() + WAIT_MS * (tsc_hz() / 1000);
    while (ticks <= CALIBRATION_TICKS && rdtsc() < end) cpu_relax();
    cli();
    hpet_stop();
    pic_mask_all();
}

int calibrate_tsc(uint64_t hpet_base, struct calibration *out, char *why, int why_size) {
    hpet = hpet_base;
    uint32_t cap = hpet_r32(hpet, HPET_GCAP_ID);
    uint32_t period_fs = hpet_r32(hpet, HPET_GCAP_ID + 4);
    uint32_t t0cap = hpet_r32(hpet, HPET_TN_CONF(0));
    out->period_fs = period_fs;
    if (cap == 0xFFFFFFFFu || period_fs == 0 || period_fs > HPET_MAX_PERIOD_FS) {
        snprintf(why, why_size, "no HPET at 0x%lx (GCAP_ID 0x%x, period %u fs)", hpet, cap, period_fs);
        return -1;
    }
    if (!(cap & HPET_CAP_LEG_RT) || !(t0cap & HPET_TN_PER_INT_CAP)) {
        snprintf(why, why_size, "HPET lacks legacy replacement or periodic timer 0");
        return -1;
    }
    uint32_t num_timers = ((cap >> 8) & 0x1F) + 1;
    uint32_t ticks_per_ms = (uint32_t)((1000000000000ull + period_fs / 2) / period_fs);
    uint32_t conf = HPET_TN_INT_TYPE_LEVEL | HPET_TN_INT_ENB | HPET_TN_PERIODIC | HPET_TN_VAL_SET;
    if (t0cap & HPET_TN_SIZE_CAP) conf |= HPET_TN_32MODE;

    lapic_write(LAPIC_LVT_LINT0, LVT_DM_EXTINT);
    lapic_write(LAPIC_LVT_LINT1, LVT_DM_NMI);
    idt_set_handler(IRQ0_VECTOR, irq0);
    for (int v = IRQ0_VECTOR + 1; v < IRQ0_VECTOR + 16; v++) idt_set_handler((uint8_t)v, other_irq);

    uint64_t cpuid_khz = cpuid_tsc_khz();
    for (out->attempts = 1;; out->attempts++) {
        run_once(conf, ticks_per_ms, num_timers);
        out->ticks = ticks > 0 ? ticks - 1 : 0; /* periods measured: tick 1 to tick N+1 */
        if (ticks != CALIBRATION_TICKS + 1) {
            snprintf(why, why_size, "%u of %u HPET IRQ0 ticks through the 8259A and LINT0 in %u ms",
                     ticks, CALIBRATION_TICKS + 1, WAIT_MS);
            return -1;
        }
        if (stray) {
            snprintf(why, why_size, "%u stray interrupts on the 8259A vectors", stray);
            return -1;
        }
        uint64_t dtsc = last_tsc - first_tsc;
        uint64_t dcount = (uint32_t)(last_count - first_count);
        /* picoseconds of HPET time: counts * period_fs / 1000 */
        out->tsc_per_ms = dtsc * 1000000000ull / (dcount * period_fs / 1000);
        out->span_us = dcount * period_fs / 1000000000ull;
        long ppm = deviation_ppm(out->tsc_per_ms, cpuid_khz);
        if (!cpuid_khz || (ppm > -20000 && ppm < 20000)) return 0; /* within 2 % */
        if (out->attempts == ATTEMPTS) {
            snprintf(why, why_size, "HPET-calibrated TSC %lu kHz vs CPUID %lu kHz (over 2 %%)",
                     out->tsc_per_ms, cpuid_khz);
            return -1;
        }
    }
}
