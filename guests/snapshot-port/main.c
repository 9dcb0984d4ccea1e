/* snapshot-port: the guest chooses where its snapshot is taken (issue 22; `snapshot.h`).
 * The boot CPU starts every AP (INIT-SIPI-SIPI from the MADT); each AP counts in a loop, so
 * the snapshot stops vCPUs that run, not only halted ones. The boot CPU prints
 * "snapshot-port: asking" and asks (a write to the port, read back at once):
 *   the machine the snapshot was taken of, or one where none was: prints
 *     "snapshot-port: original" and exits 0. `boot --save` ends the run at the write, so
 *     there this line must not show.
 *   a machine continued from the snapshot: checks that every AP still counts (its counter
 *     moves within a second of TSC time), prints "snapshot-port: fork, <n> APs counting" and
 *     exits 0, or "snapshot-port: FAIL ..." and exits 3. */
#include "guest.h"
#include "lapic.h"
#include "smp.h"
#include "snapshot.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3

static volatile uint64_t counts[MAX_CPUS];

static void ap_main(struct cpu *c) {
    for (;;) counts[c->index]++;
}

int main(void) {
    lapic_init(0);
    uint32_t ids[MAX_CPUS];
    int n = smp_madt_cpus(ids);
    if (n > 1) smp_start_aps(ids, n, ap_main, 100000);
    uint32_t ncpus = smp_online();
    printf("snapshot-port: asking\n");
    if (!snapshot_here()) {
        printf("snapshot-port: original\n");
        return EXIT_PASS;
    }
    for (uint32_t cpu = 1; cpu < ncpus; cpu++) {
        uint64_t before = counts[cpu], end = rdtsc() + tsc_from_us(1000000);
        while (counts[cpu] == before && rdtsc() < end) cpu_pause();
        if (counts[cpu] == before) {
            printf("snapshot-port: FAIL AP %u does not count in the fork\n", cpu);
            return EXIT_TEST_FAIL;
        }
    }
    printf("snapshot-port: fork, %u APs counting\n", ncpus - 1);
    return EXIT_PASS;
}
