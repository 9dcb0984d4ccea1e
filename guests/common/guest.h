/* What every guest uses: exit codes, guest_exit(), the boot state captured by the entry
 * stub, and the guest's own main(). Include this first. */
#ifndef GUEST_GUEST_H
#define GUEST_GUEST_H

#include <stdint.h>
#include <stddef.h>
#include "io.h"
#include "printf.h"
#include "serial.h"
#include "string.h"

/* Exit values written to the debug-exit port; the host sees (v << 1) | 1. */
#define EXIT_PASS        0
#define EXIT_FAIL        1
#define EXIT_EXCEPTION   100 /* unhandled CPU exception (printed with vector and RIP) */
#define EXIT_UNEXPECTED  101 /* interrupt on a vector nobody registered */

/* QEMU isa-debug-exit convention, kept by SwiftVMM: outb v to 0xF4 ends the VM. */
#define DEBUG_EXIT_PORT 0xF4

__attribute__((noreturn)) void guest_exit(uint8_t v);
__attribute__((noreturn)) void halt_forever(void);

/* Captured by the boot stub in boot/ before anything changed them (bootinfo.c). */
extern uint32_t boot_magic;     /* EAX (multiboot) or RSI (ELF64 entry) */
extern uint64_t boot_info;      /* EBX (multiboot) or RDI (ELF64 entry) */
extern uint32_t boot_cr0_32;    /* multiboot: CR0 at the 32-bit entry */
extern uint32_t boot_eflags_32; /* multiboot: EFLAGS at the 32-bit entry */
extern uint64_t boot_rdi, boot_rsi, boot_rsp, boot_rflags; /* ELF64 entry registers */
extern uint64_t boot_cr0, boot_cr3, boot_cr4, boot_efer;
extern uint16_t boot_cs;

/* Each guest defines main(); its return value is the exit value. */
int main(void);

#endif
