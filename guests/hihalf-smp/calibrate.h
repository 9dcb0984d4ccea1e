/* TSC calibration against the HPET, with the HPET's interrupt taking the oldest PC path:
 * legacy replacement (timer 0 -> IRQ0, IA-PC HPET 1.0a §2.3.5) -> master 8259A -> the boot
 * CPU's local APIC LINT0 in ExtINT mode ("virtual wire", MP Spec 1.4 §3.6.2.2). */
#ifndef HIHALF_CALIBRATE_H
#define HIHALF_CALIBRATE_H

#include <stdint.h>

struct calibration {
    uint64_t tsc_per_ms;     /* TSC cycles per ms of HPET main-counter time, read at ticks */
    uint32_t ticks;          /* IRQ0 periods measured (first to last tick) */
    uint64_t span_us;        /* HPET time they took: more than ticks ms when the host
                                delays interrupt delivery (late ticks merge) */
    uint32_t period_fs;      /* HPET counter period */
    int attempts;
};

/* Programs LINT0 = ExtINT and LINT1 = NMI on this CPU's local APIC (xAPIC, enabled), the
 * 8259A pair (IRQ0 -> vector 0x20, only IRQ0 unmasked) and HPET timer 0 at 1 ms periodic,
 * then measures CALIBRATION_TICKS periods with interrupts on. The rate comes from the TSC
 * and the HPET main counter read together in the handler at the first and last tick (the
 * counter read bracketed by two TSC reads, the tightest of four), so neither interrupt
 * latency nor a host that preempts the vCPU during one read enters it; when the VMM
 * advertises a TSC rate (CPUID) the result must agree within 2 % (up to 3 runs). Leaves
 * the HPET stopped, the 8259A fully masked and interrupts off. Returns 0, or -1 with a
 * reason in why. */
int calibrate_tsc(uint64_t hpet_base, struct calibration *out, char *why, int why_size);

#define CALIBRATION_TICKS 50

#endif
