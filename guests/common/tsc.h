/* TSC frequency and TSC-based delays and timeouts. */
#ifndef GUEST_TSC_H
#define GUEST_TSC_H

#include <stdint.h>

/* TSC frequency in Hz from CPUID 0x15 (TSC/crystal ratio, SDM Vol. 2 CPUID), else 0x16
 * (base MHz), else hypervisor leaf 0x40000010 (EAX = TSC kHz), else 2 GHz assumed. */
uint64_t tsc_hz(void);
/* Which source tsc_hz() used: "cpuid15", "cpuid16", "hv40000010" or "assumed". */
const char *tsc_hz_source(void);

uint64_t tsc_from_us(uint64_t us);
void delay_us(uint64_t us);

/* A TSC watchdog shared by all CPUs: after watchdog_arm(seconds, code, message), any CPU
 * calling watchdog_poll() past the deadline prints message + "\n" and exits with code.
 * cpu_relax() = pause + watchdog_poll(); use it in every spin loop. */
void watchdog_arm(uint64_t seconds, uint8_t exit_code, const char *message);

/* How long a timer guest waits for the interrupts it counts, and its watchdog. A busy host
 * may run the vCPU a fraction of the time, so the count is awaited for 20 s, far past the
 * ~0.2 s an idle host needs: a lost interrupt still fails (the count never arrives), a late
 * one does not. The watchdog stays inside the 60 s the host-side tests allow a boot. */
#define COUNT_WAIT_US    20000000u
#define TIMER_WATCHDOG_S 50
void watchdog_poll(void);
void cpu_relax(void);

#endif
