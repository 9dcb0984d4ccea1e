/* Plain ELF64 boot (no multiboot header): SwiftVMM enters at e_entry in 64-bit long mode
 * with RDI = multiboot 2 information, RSI = 0x36D76289, RSP = top of a 64 KiB stack,
 * interrupts off, 0-4 GiB identity-mapped by the VMM's page tables (CR3 set).
 * Captures the entry state before changing anything, then moves to our own stack and GDT
 * and calls guest_start. */
#define MSR_EFER 0xC0000080

    .section .text.boot, "ax"
    .code64
    .globl _start
_start:
    movq %rdi, boot_rdi
    movq %rsi, boot_rsi
    movq %rsp, boot_rsp
    pushfq                  /* uses the VMM's stack; RSP was saved above */
    popq boot_rflags
    movq %cr0, %rax
    movq %rax, boot_cr0
    movq %cr3, %rax
    movq %rax, boot_cr3
    movq %cr4, %rax
    movq %rax, boot_cr4
    movl $MSR_EFER, %ecx
    rdmsr
    shlq $32, %rdx
    orq %rdx, %rax
    movq %rax, boot_efer
    movw %cs, boot_cs

    movq boot_rdi, %rax
    movq %rax, boot_info
    movq boot_rsi, %rax
    movl %eax, boot_magic

    movq $(boot_stack + 65536), %rsp
    call guest_start
1:  cli
    hlt
    jmp 1b
