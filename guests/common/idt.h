/* 64-bit IDT with a stub for each of the 256 vectors (isr.S) and a C dispatcher. */
#ifndef GUEST_IDT_H
#define GUEST_IDT_H

#include <stdint.h>

/* Register frame built by isr.S: general registers pushed by the stub, then the vector and
 * error code (0 for vectors without one), then what the CPU pushed (SDM Vol. 3A §6.14.2). */
struct isr_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*isr_handler_t)(struct isr_frame *frame);

/* Fills the IDT (done once, by the boot CPU, in guest_start) and loads it (each CPU). */
void idt_init(void);
void idt_load(void);

/* Registers a handler for a vector; NULL restores the default. The default for vectors
 * 0-31 prints the vector and RIP and exits EXIT_EXCEPTION; 0xFF (the spurious vector the
 * guests program in the LAPIC SVR) is ignored; other vectors exit EXIT_UNEXPECTED. */
void idt_set_handler(uint8_t vector, isr_handler_t handler);

#define SPURIOUS_VECTOR 0xFF

#endif
