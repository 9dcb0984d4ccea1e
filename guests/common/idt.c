#include "idt.h"
#include "cpu.h"
#include "guest.h"

/* 64-bit interrupt gate (SDM Vol. 3A §6.14.1 64-bit mode IDT): type 0xE, present, DPL 0. */
struct __attribute__((packed)) idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};

#define GATE_INTERRUPT_64 0x8E

static __attribute__((aligned(16))) struct idt_gate idt[256];
static struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idt_ptr;
static isr_handler_t handlers[256];

extern char isr_stubs[]; /* isr.S: 256 stubs, 16 bytes apart */

void idt_init(void) {
    for (int v = 0; v < 256; v++) {
        uint64_t a = (uint64_t)(isr_stubs + 16 * v);
        idt[v].offset_low = (uint16_t)a;
        idt[v].selector = SEL_CODE64;
        idt[v].ist = 0;
        idt[v].type_attr = GATE_INTERRUPT_64;
        idt[v].offset_mid = (uint16_t)(a >> 16);
        idt[v].offset_high = (uint32_t)(a >> 32);
        idt[v].reserved = 0;
    }
    idt_ptr.limit = sizeof(idt) - 1;
    idt_ptr.base = (uint64_t)idt;
}

void idt_load(void) {
    __asm__ volatile("lidt %0" : : "m"(idt_ptr));
}

void idt_set_handler(uint8_t vector, isr_handler_t handler) {
    __atomic_store_n(&handlers[vector], handler, __ATOMIC_RELEASE);
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP",
    "#SS", "#GP", "#PF", "RSV", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "RSV", "RSV",
    "RSV", "RSV", "RSV", "RSV", "#HV", "#VC", "#SX", "RSV",
};

void isr_dispatch(struct isr_frame *f) {
    isr_handler_t h = __atomic_load_n(&handlers[f->vector], __ATOMIC_ACQUIRE);
    if (h) {
        h(f);
        return;
    }
    if (f->vector == SPURIOUS_VECTOR) return; /* no EOI for spurious (SDM Vol. 3A §11.9) */
    if (f->vector < 32) {
        panic_printf("EXCEPTION %s vector=%lu error=0x%lx rip=0x%lx cs=0x%lx rflags=0x%lx rsp=0x%lx cr2=0x%lx\n",
                     exception_names[f->vector], f->vector, f->error, f->rip, f->cs, f->rflags,
                     f->rsp, read_cr2());
        guest_exit(EXIT_EXCEPTION);
    }
    panic_printf("UNEXPECTED interrupt vector=%lu rip=0x%lx\n", f->vector, f->rip);
    guest_exit(EXIT_UNEXPECTED);
}
