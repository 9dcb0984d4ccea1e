/* AP start-up trampoline (SDM Vol. 3A §9.4.4.2 "Typical AP Initialization Sequence").
 * smp.c copies trampoline_start..trampoline_end to TRAMPOLINE_PHYS (0x8000) and fills the
 * parameter block; a SIPI with vector 0x08 starts the AP in real mode at CS=0x0800, IP=0.
 * Path: 16-bit real mode -> 32-bit protected mode (paging off) -> long mode (CR4.PAE, CR3 of
 * the boot CPU, EFER.LME, CR0.PG; SDM Vol. 3A §10.8.5) -> 64-bit code, which takes an AP
 * index with lock xadd, switches to that AP's stack and calls ap_entry(index).
 * All addresses below are TRAMPOLINE_PHYS + offset from trampoline_start: the code runs only
 * at the copy. Kept in .rodata: never executed where it is linked. */
#define TR_BASE 0x8000
#define TR(sym) (TR_BASE + (sym) - trampoline_start)

    .section .rodata
    .balign 16
    .globl trampoline_start, trampoline_end
    .globl tr_cr3, tr_entry, tr_stack_base, tr_stack_size, tr_next, tr_max

    .code16
trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl (tr_gdtr - trampoline_start)
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
    movl TR(tr_cr3), %eax
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
    movl $1, %eax
    lock xaddl %eax, TR(tr_next)
    incl %eax                    /* AP index: 1, 2, ... (0 is the boot CPU) */
    cmpl TR(tr_max), %eax
    jae 9f
    movl %eax, %edi              /* ap_entry(index) */
    movq TR(tr_stack_size), %rax
    imulq %rdi, %rax
    addq TR(tr_stack_base), %rax
    movq %rax, %rsp              /* top of stack slot index-1 */
    movq TR(tr_entry), %rax
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
tr_entry:       .quad 0
tr_stack_base:  .quad 0
tr_stack_size:  .quad 0
tr_cr3:         .long 0
tr_next:        .long 0
tr_max:         .long 0
    .balign 16
trampoline_end:
