#include "ap_boot.h"
#include "cpu.h"
#include "guest.h"
#include "lapic.h"
#include "tsc.h"

#define CMOS_INDEX           0x70 /* bit 7 = NMI disable: kept clear */
#define CMOS_DATA            0x71
#define CMOS_SHUTDOWN_STATUS 0x0F
#define SHUTDOWN_JMP_467     0x0A /* "JMP DWORD PTR 40:67 without EOI" */
#define WARM_RESET_VECTOR    0x467u /* offset word, then segment word at 0x469 */

#define KERNEL_VMA    0xFFFFFFFF80000000ull
#define AP_STACK_SIZE 16384

/* ap_trampoline.S */
extern char ap_trampoline_start[], ap_trampoline_end[];
extern char ap_tr_entry[], ap_tr_stack[], ap_tr_cr3[], ap_tr_index[], ap_tr_alive[];

static __attribute__((aligned(16))) uint8_t ap_stacks[MAX_CPUS][AP_STACK_SIZE];
static volatile uint32_t checked_in; /* index of the last AP that reached C and printed */
static volatile uint32_t failures;

/* A parameter-block field in the copy at AP_TRAMPOLINE_PHYS (identity-mapped). */
static volatile void *param(char *symbol) {
    return (volatile void *)(uintptr_t)(AP_TRAMPOLINE_PHYS + (uintptr_t)(symbol - ap_trampoline_start));
}

static void cmos_write(uint8_t reg, uint8_t value) {
    outb(CMOS_INDEX, reg);
    outb(CMOS_DATA, value);
}

static uint64_t current_rip(void) {
    uint64_t rip;
    __asm__ volatile("leaq 0(%%rip), %0" : "=r"(rip));
    return rip;
}

/* Reached from the trampoline in 64-bit mode on this AP's stack, interrupts off. */
__attribute__((noreturn)) void hihalf_ap_entry(uint32_t index) {
    cpu_init(index);
    lapic_init(0);
    uint32_t apic_id = lapic_id();
    cpus[index].apic_id = apic_id;
    uint64_t rip = current_rip();
    int long_mode = (rdmsr(MSR_IA32_EFER) & EFER_LMA) != 0;
    int ok = long_mode && rip >= KERNEL_VMA;
    printf("hihalf-smp: AP %u (APIC ID %u) up: long mode %s, rip 0x%lx, cr3 0x%lx%s\n", index,
           apic_id, long_mode ? "on" : "OFF", rip, read_cr3(), ok ? "" : " FAIL");
    if (!ok) __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&checked_in, index, __ATOMIC_RELEASE);
    halt_forever();
}

void ap_boot_prepare(void) {
    memcpy((void *)(uintptr_t)AP_TRAMPOLINE_PHYS, ap_trampoline_start,
           (size_t)(ap_trampoline_end - ap_trampoline_start));
    *(volatile uint32_t *)param(ap_tr_cr3) = (uint32_t)read_cr3();
    *(volatile uint64_t *)param(ap_tr_entry) = (uint64_t)(uintptr_t)hihalf_ap_entry;
    cmos_write(CMOS_SHUTDOWN_STATUS, SHUTDOWN_JMP_467);
    *(volatile uint16_t *)(uintptr_t)WARM_RESET_VECTOR = 0;                             /* IP */
    *(volatile uint16_t *)(uintptr_t)(WARM_RESET_VECTOR + 2) = AP_TRAMPOLINE_PHYS >> 4; /* CS */
    mem_barrier();
}

void ap_boot_finish(void) {
    cmos_write(CMOS_SHUTDOWN_STATUS, 0);
    *(volatile uint32_t *)(uintptr_t)WARM_RESET_VECTOR = 0;
}

uint32_t ap_boot_failures(void) {
    return __atomic_load_n(&failures, __ATOMIC_ACQUIRE);
}

static void wait_tsc(uint64_t cycles) {
    uint64_t end = rdtsc() + cycles;
    while (rdtsc() < end) cpu_relax();
}

int ap_boot_start(uint32_t apic_id, uint32_t index, uint64_t tsc_per_ms, uint32_t wait_ms) {
    volatile uint32_t *alive = param(ap_tr_alive);
    *alive = 0;
    *(volatile uint32_t *)param(ap_tr_index) = index;
    *(volatile uint64_t *)param(ap_tr_stack) = (uint64_t)(uintptr_t)&ap_stacks[index][AP_STACK_SIZE];
    mem_barrier();

    lapic_send_ipi(apic_id, ICR_INIT | ICR_ASSERT);
    wait_tsc(10 * tsc_per_ms);
    lapic_send_ipi(apic_id, ICR_STARTUP | ICR_ASSERT | AP_SIPI_VECTOR);
    wait_tsc(tsc_per_ms / 5); /* 200 us */
    int sipis = 1;
    if (!*alive) {
        lapic_send_ipi(apic_id, ICR_STARTUP | ICR_ASSERT | AP_SIPI_VECTOR);
        sipis = 2;
    }
    uint64_t end = rdtsc() + wait_ms * tsc_per_ms;
    while (__atomic_load_n(&checked_in, __ATOMIC_ACQUIRE) != index) {
        if (rdtsc() > end) return 0;
        cpu_relax();
    }
    return sipis;
}
