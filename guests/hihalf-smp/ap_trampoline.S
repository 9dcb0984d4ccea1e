/* AP start-up trampoline for hihalf-smp (SDM Vol. 3A §9.4.4.2 "Typical AP Initialization
 * Sequence"). ap_boot.c copies ap_trampoline_start..ap_trampoline_end to physical 0x70000
 * and fills the parameter block; a SIPI with vector 0x70 (or the warm-reset vector
 * 0x7000:0000) starts an AP in real mode at CS = 0x7000, IP = 0.
 * Path: real mode (marks itself alive) -> 32-bit protected mode, paging off -> long mode on
 * the boot CPU's page tables (CR3 < 4 GiB; CR4.PAE, EFER.LME, CR0.PG, SDM Vol. 3A §10.8.5)
 * -> 64-bit code at the identity-mapped copy, which loads its stack and jumps to the
 * higher-half C entry hihalf_ap_entry(index). One AP runs this at a time (ap_boot.c), so the
 * parameter block carries that AP's index and stack.
 * Addresses are AP_TRAMPOLINE + offset from ap_trampoline_start: the code runs only at the
 * copy, and is kept in .rodata. */
#define AP_TRAMPOLINE 0x70000
#define TR(sym) (AP_TRAMPOLINE + (sym) - ap_trampoline_start)

    .section .rodata
    .balign 16
    .globl ap_trampoline_start, ap_trampoline_end
    .globl ap_tr_entry, ap_tr_stack, ap_tr_cr3, ap_tr_index, ap_tr_alive

    .code16
ap_trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    movl $1, (ap_tr_alive - ap_trampoline_start)
    lgdtl (tr_gdtr - ap_trampoline_start)
    movl %cr0, %eax
    orl $1, %eax                 /* CR0.PE */
    movl %eax, %cr0
    ljmpl $0x08, $TR(tr_pm32)

    .code32
tr_pm32:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $0x20, %eax              /* CR4.PAE */
    movl %eax, %cr4
    movl TR(ap_tr_cr3), %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx       /* IA32_EFER */
    rdmsr
    orl $0x100, %eax             /* EFER.LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax        /* CR0.PG: activates long mode */
    movl %eax, %cr0
    ljmp $0x18, $TR(tr_lm64)

    .code64
tr_lm64:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq TR(ap_tr_stack), %rsp
    movl TR(ap_tr_index), %edi   /* hihalf_ap_entry(index) */
    movq TR(ap_tr_entry), %rax   /* a 0xFFFFFFFF8xxxxxxx address */
    call *%rax
9:  cli
    hlt
    jmp 9b

    .balign 8
tr_gdt:
    .quad 0
    .quad 0x00CF9B000000FFFF     /* 0x08: 32-bit code, flat */
    .quad 0x00CF93000000FFFF     /* 0x10: data, flat */
    .quad 0x00AF9B000000FFFF     /* 0x18: 64-bit code */
tr_gdt_end:
tr_gdtr:
    .word tr_gdt_end - tr_gdt - 1
    .long TR(tr_gdt)

    .balign 8
ap_tr_entry:    .quad 0
ap_tr_stack:    .quad 0
ap_tr_cr3:      .long 0
ap_tr_index:    .long 0
ap_tr_alive:    .long 0
    .balign 16
ap_trampoline_end:
