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
void watchdog_poll(void);
void cpu_relax(void);

#endif
