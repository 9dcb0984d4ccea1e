/* smp-broadcast: the AP start-up many kernels use, one broadcast INIT then at once one
 * broadcast STARTUP, with no delay and no second SIPI (compare the INIT-10ms-SIPI-200us-SIPI
 * sequence of SDM Vol. 3A §9.4.4.1, §8.4.4.1 in older editions), then a re-INIT of one AP.
 *   phase 1  the boot CPU reads N from QEMU's fw_cfg (NB_CPUS; the MADT when fw_cfg is
 *            absent; both must agree when both are there); ICR (§11.6.1): shorthand 11b (all excluding
 *            self), INIT level assert; then shorthand 11b, STARTUP, vector 0x08 (0x8000).
 *            Each AP runs the common trampoline and ap_entry (smp.c), prints "ap <id> up",
 *            counts itself and halts. Within ~3 s of TSC: "<k> of <N-1> APs started",
 *            PASS if k == N-1.
 *   phase 2  (N >= 2) INIT then at once STARTUP to physical APIC ID 1 only. The AP must run
 *            the trampoline again on the same stack slot: "ap 1 up again", "restart PASS".
 * v=0 if both phases pass, else v=3; the ~12 s watchdog prints "smp-broadcast: TIMEOUT"
 * (v=4). xAPIC mode throughout. */
#include "acpi.h"
#include "fw_cfg.h"
#include "guest.h"
#include "lapic.h"
#include "smp.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4
#define WAIT_US        3000000u /* per phase */
#define SETTLE_US      50000u   /* after the restart: time for a stray extra arrival */
#define RESTART_ID     1u

/* trampoline.S: the AP index is a ticket taken with lock xadd on tr_next (in the copy at
 * TRAMPOLINE_PHYS), so APs arriving all at once get distinct indexes and stacks. */
extern char trampoline_start[], trampoline_end[], tr_next[], tr_entry[];
#define TR_COPY(sym) ((volatile void *)(uintptr_t)(TRAMPOLINE_PHYS + (uintptr_t)((sym) - trampoline_start)))

static volatile uint32_t arrivals[MAX_CPUS];  /* per AP index: times it reached ap_main */
static volatile uint64_t frame[MAX_CPUS][2];  /* its frame address on arrival 1 and 2 */
static volatile uint32_t up_first, up_again;  /* APs on their first / a later arrival */

/* Called by smp.c's ap_entry on the AP's own stack after cpu_init and lapic_init; returning
 * parks the CPU with cli; hlt (which INIT still interrupts). */
static void ap_main(struct cpu *c) {
    uint32_t n = __atomic_add_fetch(&arrivals[c->index], 1, __ATOMIC_ACQ_REL);
    if (n <= 2) frame[c->index][n - 1] = (uint64_t)(uintptr_t)__builtin_frame_address(0);
    if (n == 1) {
        printf("ap %u up\n", c->apic_id);
        __atomic_add_fetch(&up_first, 1, __ATOMIC_ACQ_REL);
    } else {
        printf("ap %u up again (arrival %u)\n", c->apic_id, n);
        __atomic_add_fetch(&up_again, 1, __ATOMIC_ACQ_REL);
    }
}

/* Spins until *counter >= want or WAIT_US pass; returns the final value. */
static uint32_t wait_for(volatile uint32_t *counter, uint32_t want) {
    uint64_t end = rdtsc() + tsc_from_us(WAIT_US);
    while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want && rdtsc() < end) cpu_relax();
    return __atomic_load_n(counter, __ATOMIC_ACQUIRE);
}

static int restart_ap(uint32_t aps) {
    /* Find the AP index APIC ID 1 took in phase 1 (cpus[] is filled by ap_entry). */
    uint32_t idx = 0;
    for (uint32_t i = 1; i <= aps && i < MAX_CPUS; i++)
        if (arrivals[i] && cpus[i].apic_id == RESTART_ID) idx = i;
    if (!idx) {
        printf("smp-broadcast: no AP with APIC ID %u checked in\n", RESTART_ID);
        return 0;
    }
    /* Rewind the ticket so the trampoline hands out idx again: same stack slot, same
     * cpus[idx]. The old stack contents are dead (the AP was parked in hlt). */
    __atomic_store_n((volatile uint32_t *)TR_COPY(tr_next), idx - 1, __ATOMIC_RELEASE);
    mem_barrier();
    /* Targeted (no shorthand, physical destination mode) INIT, level assert, and at once
     * the STARTUP IPI (SDM Vol. 3A §11.6.1; INIT resets the AP to wait-for-SIPI, §9.4). */
    int err = lapic_send_ipi(RESTART_ID, ICR_INIT | ICR_ASSERT);
    err |= lapic_send_ipi(RESTART_ID, ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
    wait_for(&up_again, 1);
    delay_us(SETTLE_US);
    uint32_t again = __atomic_load_n(&up_again, __ATOMIC_ACQUIRE);
    uint32_t first = __atomic_load_n(&up_first, __ATOMIC_ACQUIRE);
    int ok = !err && again == 1 && arrivals[idx] == 2 && first == aps &&
             frame[idx][1] == frame[idx][0];
    printf("smp-broadcast: restart of APIC ID %u (index %u): its arrivals=%u, all re-arrivals=%u,"
           " same stack=%s%s\n", RESTART_ID, idx, arrivals[idx], again,
           frame[idx][1] == frame[idx][0] ? "yes" : "no", err ? ", ICR stuck pending" : "");
    return ok;
}

int main(void) {
    lapic_init(0); /* xAPIC: MMIO at the base from IA32_APIC_BASE */
    watchdog_arm(12, EXIT_TIMEOUT, "smp-broadcast: TIMEOUT");
    /* The CPU count: QEMU's fw_cfg NB_CPUS when fw_cfg is there (as firmware written for
     * QEMU reads it), else the MADT; when both are there they must agree. */
    int madt = acpi_madt_cpus(NULL, 0);
    int fw = fw_cfg_present() ? fw_cfg_u16(FW_CFG_NB_CPUS) : -1;
    int n = fw > 0 ? fw : madt;
    if (n < 1) n = 1; /* neither: just this CPU */
    uint32_t aps = (uint32_t)n - 1;
    printf("smp-broadcast: BSP APIC ID %u, %d CPUs from %s (fw_cfg %d, MADT %d)\n", lapic_id(), n,
           fw > 0 ? "fw_cfg" : "the MADT", fw, madt);
    if (fw > 0 && madt > 0 && fw != madt) {
        printf("smp-broadcast: fw_cfg and MADT disagree\nsmp-broadcast: FAIL\n");
        return EXIT_TEST_FAIL;
    }

    /* With no APIC IDs, smp_start_aps only installs the trampoline (copy at 0x8000, CR3,
     * stacks, ticket 0) and ap_entry -> ap_main; it sends nothing. Check it did install. */
    smp_start_aps(NULL, 0, ap_main, 0);
    if (memcmp((const void *)(uintptr_t)TRAMPOLINE_PHYS, trampoline_start,
               (size_t)(tr_entry - trampoline_start)) != 0 ||
        *(volatile uint64_t *)TR_COPY(tr_entry) == 0) {
        printf("smp-broadcast: trampoline not installed by smp_start_aps\nsmp-broadcast: FAIL\n");
        return EXIT_TEST_FAIL;
    }

    /* Phase 1: exactly one broadcast INIT and, with no delay, exactly one broadcast SIPI
     * (ICR shorthand 11b = all excluding self; destination field ignored; §11.6.1). */
    uint64_t sent = rdtsc();
    int err = lapic_send_ipi(0, ICR_ALL_EXCL | ICR_INIT | ICR_ASSERT);
    err |= lapic_send_ipi(0, ICR_ALL_EXCL | ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
    uint32_t k = wait_for(&up_first, aps);
    /* AP start-up time: INIT sent to the last AP counted in (its "up" line included). */
    uint64_t elapsed_us = (rdtsc() - sent) * 1000000 / tsc_hz();
    printf("smp-broadcast: %u of %u APs started%s\n", k, aps, err ? " (ICR stuck pending)" : "");
    printf("smp-broadcast: startup_us=%lu\n", elapsed_us);
    int pass1 = k == aps && !err;
    printf("smp-broadcast: %s\n", pass1 ? "PASS" : "FAIL");

    /* Phase 2: re-INIT and restart one AP. */
    int pass2 = 1;
    if (n >= 2) {
        pass2 = restart_ap(aps);
        printf("smp-broadcast: restart %s\n", pass2 ? "PASS" : "FAIL");
    } else {
        printf("smp-broadcast: restart skipped (no APs)\n");
    }
    return pass1 && pass2 ? EXIT_PASS : EXIT_TEST_FAIL;
}
