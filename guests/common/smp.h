/* Application-processor start-up (SDM Vol. 3A §9.4.4 MP initialization example) and
 * simple cross-CPU synchronisation. */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stdint.h>
#include "cpu.h"

/* Physical page the real-mode trampoline is copied to; SIPI vector = page number. The VMM
 * never writes 0x500-0x9FBFF, so the page is ours. */
#define TRAMPOLINE_PHYS 0x8000u
#define SIPI_VECTOR     (TRAMPOLINE_PHYS >> 12)

#define AP_STACK_SIZE 8192

typedef void (*ap_main_t)(struct cpu *cpu);

/* Starts each CPU in apic_ids[0..n) except the caller with INIT-SIPI-SIPI through the local
 * APIC (the caller must have run lapic_init; the APs use the same APIC mode). Each AP runs
 * 16-bit -> 32-bit -> long mode with the caller's CR3, then cpu_init, lapic_init, records its
 * APIC ID and calls fn (interrupts off). APs are started one at a time, waiting up to
 * wait_us for each to arrive, so AP indexes follow apic_ids order when all arrive in time.
 * Returns how many APs arrived (smp_online() - 1 at that time). */
int smp_start_aps(const uint32_t *apic_ids, int n, ap_main_t fn, uint64_t wait_us);

/* The CPUs to run on: the enabled processors the MADT lists (acpi_madt_cpus), their APIC
 * IDs stored in ids[0..n); returns n, clamped to 1..MAX_CPUS (1: this CPU alone, when
 * there is no MADT). */
int smp_madt_cpus(uint32_t ids[MAX_CPUS]);

/* CPUs that reached C code, including the boot CPU. */
uint32_t smp_online(void);

/* Sense-reversing barrier for `count` CPUs; spins with cpu_relax() (watchdog-aware). */
struct barrier {
    volatile uint32_t arrived;
    volatile uint32_t generation;
};
void barrier_wait(struct barrier *b, uint32_t count);

#endif
