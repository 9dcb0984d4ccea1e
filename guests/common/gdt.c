/* The 64-bit GDT shared by all CPUs (SDM Vol. 3A §3.4.5 segment descriptors, §5.2.1 64-bit
 * code segments) and per-CPU set-up. The 32-bit boot stub loads this GDT too: its data
 * descriptor is a flat 4 GiB one, valid in both modes. The accessed bits are preset so the
 * CPU never writes the table. */
#include "cpu.h"
#include "idt.h"
#include "io.h"

__attribute__((aligned(16))) uint64_t gdt64[] = {
    0,
    0x00AF9B000000FFFFull, /* 0x08: code, L=1 D=0, DPL 0, present, accessed */
    0x00CF93000000FFFFull, /* 0x10: data, 4 GiB flat, writable, present, accessed */
};

/* Pseudo-descriptor: 2-byte limit then base. In 32-bit mode lgdt reads the low 4 bytes of
 * the base, in 64-bit mode all 8 (SDM Vol. 2 LGDT); the base is below 4 GiB. */
struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdt64_ptr = {
    sizeof(gdt64) - 1, (uint64_t)gdt64,
};

struct cpu cpus[MAX_CPUS];

void gdt_load(void) {
    __asm__ volatile(
        "lgdt gdt64_ptr\n\t"
        "movl %0, %%eax\n\t"
        "movl %%eax, %%ds\n\t"
        "movl %%eax, %%es\n\t"
        "movl %%eax, %%ss\n\t"
        "movl %%eax, %%fs\n\t"
        "movl %%eax, %%gs\n\t"
        /* reload CS with a far return (SDM Vol. 2 RET: far return to same privilege) */
        "pushq %1\n\t"
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:"
        : : "i"(SEL_DATA), "i"(SEL_CODE64) : "rax", "memory");
}

void cpu_init(uint32_t index) {
    gdt_load();
    idt_load();
    struct cpu *c = &cpus[index];
    c->self = c;
    c->index = index;
    /* GS base must be set after the gs selector load in gdt_load(), which clears it. */
    wrmsr(MSR_IA32_GS_BASE, (uint64_t)c);
}
