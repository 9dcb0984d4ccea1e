#include "lapic.h"
#include "io.h"

int lapic_x2apic;
static volatile uint32_t *lapic_mmio = (volatile uint32_t *)0xFEE00000;

int cpu_has_x2apic(void) { return (cpuid(1, 0).ecx >> 21) & 1; }
int cpu_has_tsc_deadline(void) { return (cpuid(1, 0).ecx >> 24) & 1; }

void lapic_init(int x2apic) {
    uint64_t base = rdmsr(MSR_IA32_APIC_BASE);
    if (x2apic) {
        /* xAPIC -> x2APIC: set EXTD with EN already set (SDM Vol. 3A §11.12.5 x2APIC state transitions). */
        if (!(base & APIC_BASE_EN)) wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EN);
        wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EN | APIC_BASE_EXTD);
    } else {
        if (!(base & APIC_BASE_EN)) wrmsr(MSR_IA32_APIC_BASE, base | APIC_BASE_EN);
        lapic_mmio = (volatile uint32_t *)(base & 0xFFFFF000ull);
    }
    lapic_x2apic = x2apic;
    lapic_write(LAPIC_SVR, SVR_APIC_ENABLE | 0xFF);
    lapic_write(LAPIC_TPR, 0);
}

uint32_t lapic_read(uint32_t reg) {
    if (lapic_x2apic) return (uint32_t)rdmsr(MSR_X2APIC_BASE + (reg >> 4));
    return lapic_mmio[reg / 4];
}

void lapic_write(uint32_t reg, uint32_t value) {
    if (lapic_x2apic)
        wrmsr(MSR_X2APIC_BASE + (reg >> 4), value);
    else
        lapic_mmio[reg / 4] = value;
}

uint32_t lapic_id(void) {
    /* xAPIC: ID in bits 31:24 (SDM Vol. 3A §11.4.6); x2APIC: the full 32-bit register. */
    if (lapic_x2apic) return (uint32_t)rdmsr(MSR_X2APIC_BASE + (LAPIC_ID >> 4));
    return lapic_mmio[LAPIC_ID / 4] >> 24;
}

void lapic_eoi(void) {
    lapic_write(LAPIC_EOI, 0);
}

int lapic_send_ipi(uint32_t dest, uint32_t low) {
    if (lapic_x2apic) {
        /* x2APIC: one 64-bit write, destination in bits 63:32 (SDM Vol. 3A §11.12.9). */
        wrmsr(MSR_X2APIC_ICR, ((uint64_t)dest << 32) | low);
        return 0;
    }
    /* xAPIC: destination in ICR high bits 31:24; writing ICR low sends the IPI. Interrupts
     * are off so a handler cannot come between the two writes. */
    uint64_t flags = irq_save();
    lapic_mmio[LAPIC_ICR_HIGH / 4] = dest << 24;
    lapic_mmio[LAPIC_ICR_LOW / 4] = low;
    int result = -1;
    for (uint32_t i = 0; i < 10000000u; i++) {
        if (!(lapic_mmio[LAPIC_ICR_LOW / 4] & ICR_PENDING)) {
            result = 0;
            break;
        }
        __asm__ volatile("pause");
    }
    irq_restore(flags);
    return result;
}
