/* demo: the embedded SwiftVMM demo kernel (multiboot 1). The boot CPU greets, counts the
 * CPUs in the ACPI MADT, starts every AP with INIT-SIPI-SIPI (smp.c); each AP greets and
 * checks in. All online within ~2 s: "<N> of <N> CPUs online", v=0; else
 * "only <k> of <N> CPUs online", v=2. */
#include "guest.h"
#include "lapic.h"
#include "smp.h"
#include "tsc.h"

#define EXIT_TIMEOUT 2

static volatile uint32_t greeted; /* APs that have printed their line */

static void ap_main(struct cpu *c) {
    printf("SwiftVMM demo: hello from CPU %u (APIC ID %u)\n", c->index, c->apic_id);
    __atomic_add_fetch(&greeted, 1, __ATOMIC_ACQ_REL);
    /* returns to ap_entry, which parks the CPU with cli; hlt */
}

int main(void) {
    lapic_init(0);
    printf("SwiftVMM demo: hello from CPU 0 (APIC ID %u)\n", lapic_id());
    uint32_t ids[MAX_CPUS];
    int n = smp_madt_cpus(ids);
    uint64_t start = rdtsc();
    if (n > 1) smp_start_aps(ids, n, ap_main, 100000);
    uint64_t end = start + 2 * tsc_hz();
    while (__atomic_load_n(&greeted, __ATOMIC_ACQUIRE) < (uint32_t)(n - 1) && rdtsc() < end)
        cpu_pause();
    uint32_t k = 1 + __atomic_load_n(&greeted, __ATOMIC_ACQUIRE);
    if (k == (uint32_t)n) {
        printf("SwiftVMM demo: %d of %d CPUs online\n", n, n);
        return EXIT_PASS;
    }
    printf("SwiftVMM demo: only %u of %d CPUs online\n", k, n);
    return EXIT_TIMEOUT;
}
