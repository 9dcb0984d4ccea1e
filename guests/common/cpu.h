/* Per-CPU state, the GDT and per-CPU initialisation. */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include <stdint.h>

#define MAX_CPUS 64

/* GDT selectors (gdt.c). */
#define SEL_CODE64 0x08
#define SEL_DATA   0x10

struct cpu {
    struct cpu *self;   /* must stay first: this_cpu() reads %gs:0 */
    uint32_t index;     /* 0 = boot CPU, then APs in the order they came up */
    uint32_t apic_id;
};

extern struct cpu cpus[MAX_CPUS];

/* Loads the GDT/IDT and points GS base at cpus[index]. */
void cpu_init(uint32_t index);
void gdt_load(void);

static inline struct cpu *this_cpu(void) {
    struct cpu *c;
    __asm__ volatile("movq %%gs:0, %0" : "=r"(c));
    return c;
}

#endif
