/* gdb-target: a kernel for the gdb stub's test. The boot CPU starts every AP (each spins
 * in ap_spin until released), then calls gdb_checkpoint() and gdb_second(), functions a
 * debugger breaks on, prints gdb_poke (a variable a debugger writes) as `poke=0x..` and
 * the time the two calls took by the TSC (`elapsed_us=`) and by the ACPI PM timer
 * (`pm_elapsed_us=`): a debugger holding the machine must not show up there, releases the APs and exits 0 (2 if not every CPU came up). */
#include "guest.h"
#include "lapic.h"
#include "smp.h"
#include "tsc.h"

/* ACPI PM timer (FADT PM_TMR_BLK, 3.579545 MHz, 24 bits wide): SwiftVMM's port. */
#define PM_TIMER_PORT 0x608

volatile uint32_t gdb_poke = 0x1234;
static volatile uint32_t release;

__attribute__((noinline)) uint32_t gdb_checkpoint(uint32_t value) {
    __asm__ volatile("nop; nop" ::: "memory");
    return value * 3 + 1;
}

__attribute__((noinline)) uint32_t gdb_second(uint32_t value) {
    __asm__ volatile("nop" ::: "memory");
    return value + gdb_poke;
}

__attribute__((noinline)) static void ap_spin(struct cpu *c) {
    (void)c;
    while (!__atomic_load_n(&release, __ATOMIC_ACQUIRE)) cpu_pause();
}

int main(void) {
    lapic_init(0);
    uint32_t ids[MAX_CPUS];
    int n = smp_madt_cpus(ids);
    if (n > 1) smp_start_aps(ids, n, ap_spin, 100000);
    uint32_t online = smp_online();
    printf("gdb-target: %u of %d CPUs online\n", online, n);
    uint32_t pm_start = inl(PM_TIMER_PORT);
    uint64_t start = rdtsc();
    uint32_t a = gdb_checkpoint(online);
    uint32_t b = gdb_second(a);
    uint64_t elapsed = rdtsc() - start;
    uint32_t pm_ticks = (inl(PM_TIMER_PORT) - pm_start) & 0xFFFFFF;
    printf("gdb-target: checkpoint=%u second=%u poke=0x%x\n", a, b, gdb_poke);
    printf("gdb-target: elapsed_us=%lu\n", (unsigned long)(elapsed * 1000000 / tsc_hz()));
    printf("gdb-target: pm_elapsed_us=%lu\n", (unsigned long)((uint64_t)pm_ticks * 1000000 / 3579545));
    __atomic_store_n(&release, 1, __ATOMIC_RELEASE);
    return online == (uint32_t)n ? EXIT_PASS : 2;
}
