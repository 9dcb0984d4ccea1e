/* Local APIC access in xAPIC (MMIO) or x2APIC (MSR) mode (SDM Vol. 3A chapter 11).
 * Registers are named by their xAPIC MMIO offset; in x2APIC mode offset R is
 * MSR 0x800 + R/16 (SDM Vol. 3A §11.12.1.2 x2APIC register address space). */
#ifndef GUEST_LAPIC_H
#define GUEST_LAPIC_H

#include <stdint.h>

#define LAPIC_ID        0x020
#define LAPIC_VERSION   0x030
#define LAPIC_TPR       0x080
#define LAPIC_PPR       0x0A0
#define LAPIC_EOI       0x0B0
#define LAPIC_LDR       0x0D0
#define LAPIC_DFR       0x0E0 /* xAPIC only */
#define LAPIC_SVR       0x0F0
#define LAPIC_ISR0      0x100
#define LAPIC_TMR0      0x180
#define LAPIC_IRR0      0x200
#define LAPIC_ESR       0x280
#define LAPIC_ICR_LOW   0x300
#define LAPIC_ICR_HIGH  0x310 /* xAPIC only; x2APIC ICR is one 64-bit MSR 0x830 */
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE  0x3E0
#define LAPIC_SELF_IPI  0x3F0 /* x2APIC only (MSR 0x83F) */

#define MSR_X2APIC_BASE 0x800u
#define MSR_X2APIC_ICR  0x830u
#define MSR_X2APIC_SELF_IPI 0x83Fu

/* IA32_APIC_BASE (SDM Vol. 3A §11.4.4): bit 8 BSP, bit 10 EXTD (x2APIC), bit 11 EN. */
#define APIC_BASE_BSP   (1ull << 8)
#define APIC_BASE_EXTD  (1ull << 10)
#define APIC_BASE_EN    (1ull << 11)

#define SVR_APIC_ENABLE (1u << 8)

/* ICR fields (SDM Vol. 3A §11.6.1 interrupt command register). */
#define ICR_FIXED       (0u << 8)
#define ICR_NMI         (4u << 8)
#define ICR_INIT        (5u << 8)
#define ICR_STARTUP     (6u << 8)
#define ICR_LOGICAL     (1u << 11)
#define ICR_PENDING     (1u << 12) /* delivery status, xAPIC only */
#define ICR_ASSERT      (1u << 14)
#define ICR_SELF        (1u << 18)
#define ICR_ALL_INCL    (2u << 18)
#define ICR_ALL_EXCL    (3u << 18)

/* LVT timer modes (SDM Vol. 3A §11.5.1 local vector table: bits 18:17). */
#define LVT_MASKED          (1u << 16)
#define LVT_TIMER_ONESHOT   (0u << 17)
#define LVT_TIMER_PERIODIC  (1u << 17)
#define LVT_TIMER_DEADLINE  (2u << 17)

extern int lapic_x2apic; /* mode chosen by the boot CPU's lapic_init() */

/* Enables this CPU's local APIC: x2APIC mode if x2apic (IA32_APIC_BASE.EXTD, SDM Vol. 3A
 * §11.12.1), software-enabled through the SVR with spurious vector 0xFF, TPR 0. */
void lapic_init(int x2apic);
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t value);
uint32_t lapic_id(void);
void lapic_eoi(void);
/* Sends an IPI: dest is an APIC ID (or logical destination); low is the ICR low word.
 * xAPIC: waits for delivery status to clear; returns 0, or -1 if it stayed pending. */
int lapic_send_ipi(uint32_t dest, uint32_t low);

int cpu_has_x2apic(void);       /* CPUID.1:ECX bit 21 */
int cpu_has_tsc_deadline(void); /* CPUID.1:ECX bit 24 */

#endif
