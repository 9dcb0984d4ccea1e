#include "smp.h"
#include "acpi.h"
#include "guest.h"
#include "lapic.h"
#include "tsc.h"

/* trampoline.S: the code and its parameter block, copied to TRAMPOLINE_PHYS. */
extern char trampoline_start[], trampoline_end[];
extern char tr_cr3[], tr_entry[], tr_stack_base[], tr_stack_size[], tr_next[], tr_max[];

static __attribute__((aligned(16))) uint8_t ap_stacks[MAX_CPUS - 1][AP_STACK_SIZE];
static volatile uint32_t online = 1;
static ap_main_t ap_main;

/* Address of a trampoline symbol in the copy at TRAMPOLINE_PHYS. */
static void *tr_field(char *symbol) {
    return (void *)(uintptr_t)(TRAMPOLINE_PHYS + (uintptr_t)(symbol - trampoline_start));
}

uint32_t smp_online(void) {
    return __atomic_load_n(&online, __ATOMIC_ACQUIRE);
}

/* Called by the trampoline in 64-bit mode on the AP's own stack; index >= 1. */
__attribute__((noreturn)) void ap_entry(uint32_t index) {
    cpu_init(index);
    lapic_init(lapic_x2apic);
    cpus[index].apic_id = lapic_id();
    __atomic_add_fetch(&online, 1, __ATOMIC_ACQ_REL);
    ap_main(&cpus[index]);
    halt_forever();
}

int smp_start_aps(const uint32_t *apic_ids, int n, ap_main_t fn, uint64_t wait_us) {
    uint32_t self = lapic_id();
    cpus[0].apic_id = self;
    ap_main = fn;

    memcpy((void *)(uintptr_t)TRAMPOLINE_PHYS, trampoline_start,
           (size_t)(trampoline_end - trampoline_start));
    *(volatile uint32_t *)tr_field(tr_cr3) = (uint32_t)read_cr3();
    *(volatile uint64_t *)tr_field(tr_entry) = (uint64_t)(uintptr_t)ap_entry;
    /* AP with index i (1-based) uses the stack whose top is stack_base + i * size. */
    *(volatile uint64_t *)tr_field(tr_stack_base) = (uint64_t)(uintptr_t)ap_stacks;
    *(volatile uint64_t *)tr_field(tr_stack_size) = AP_STACK_SIZE;
    *(volatile uint32_t *)tr_field(tr_next) = 0;
    *(volatile uint32_t *)tr_field(tr_max) = MAX_CPUS;
    mem_barrier();

    int started = 0;
    for (int i = 0; i < n; i++) {
        if (apic_ids[i] == self) continue;
        uint32_t before = smp_online();
        /* INIT, wait 10 ms, SIPI, wait 200 us, SIPI (SDM Vol. 3A §9.4.4.1). */
        lapic_send_ipi(apic_ids[i], ICR_INIT | ICR_ASSERT);
        delay_us(10000);
        lapic_send_ipi(apic_ids[i], ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
        delay_us(200);
        lapic_send_ipi(apic_ids[i], ICR_STARTUP | ICR_ASSERT | SIPI_VECTOR);
        uint64_t end = rdtsc() + tsc_from_us(wait_us);
        while (smp_online() == before && rdtsc() < end) cpu_relax();
        if (smp_online() != before) started++;
    }
    return started;
}

void barrier_wait(struct barrier *b, uint32_t count) {
    uint32_t gen = __atomic_load_n(&b->generation, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == count) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->generation, gen + 1, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&b->generation, __ATOMIC_ACQUIRE) == gen) cpu_relax();
    }
}

int smp_madt_cpus(uint32_t ids[MAX_CPUS]) {
    int n = acpi_madt_cpus(ids, MAX_CPUS);
    if (n < 1) n = 1;
    if (n > MAX_CPUS) n = MAX_CPUS;
    return n;
}
