/* Multiboot 32-bit entry, shared by boot/mb1.S and boot/mb2.S (included, never built alone).
 *
 * Entered as both multiboot specs say: EAX = magic, EBX = info address, 32-bit protected
 * mode, flat segments, paging off, interrupts off, ESP and GDTR undefined (Multiboot 1
 * §3.2 "Machine state", Multiboot 2 §3.3 "I386 machine state").
 *
 * The 32-bit part is kept to plain moves, loops and control-register writes (the host KVM
 * cannot emulate 32-bit iret/int, nor run 32-bit paging): capture the entry state, build an
 * identity map of 0-4 GiB with 2 MiB pages, enable long mode (SDM Vol. 3A §10.8.5
 * "Initializing IA-32e Mode": CR4.PAE, CR3, EFER.LME, then CR0.PG), far-jump to 64-bit. */

#define MSR_EFER 0xC0000080
#define EFER_LME 0x100
#define CR4_PAE  0x20
#define CR0_PE_PG 0x80000001

/* Page-table entry bits (SDM Vol. 3A §4.5 4-level paging: PML4E, PDPTE, PDE formats). */
#define PTE_P    0x01
#define PTE_RW   0x02
#define PTE_PWT  0x08
#define PTE_PCD  0x10
#define PTE_PS   0x80 /* in a PD entry: maps a 2 MiB page */

/* From here to 4 GiB is device MMIO (I/O APIC 0xFEC00000, HPET 0xFED00000, LAPIC
 * 0xFEE00000): mapped uncached (PCD|PWT). */
#define MMIO_START 0xFEC00000

    .section .text.boot, "ax"
    .code32
    .globl _start
_start:
    /* Nothing before these instructions may change EAX, EBX, CR0 or EFLAGS; moves do not
     * touch the flags. */
    movl %eax, boot_magic
    movl %ebx, boot_info
    movl %cr0, %ecx
    movl %ecx, boot_cr0_32
    movl $(boot_stack + 65536), %esp
    pushfl
    popl boot_eflags_32

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories (the .bss is zeroed by the
     * loader, so every other entry is not-present). */
    movl $(boot_pdpt + PTE_P + PTE_RW), boot_pml4
    movl $(boot_pd + PTE_P + PTE_RW), %eax
    xorl %ecx, %ecx
1:  movl %eax, boot_pdpt(, %ecx, 8)
    addl $4096, %eax
    incl %ecx
    cmpl $4, %ecx
    jb 1b

    /* PD entries 0..2047: 2 MiB page i at physical i * 2 MiB. */
    movl $(PTE_P + PTE_RW + PTE_PS), %eax
    xorl %ecx, %ecx
2:  movl %eax, %edx
    cmpl $MMIO_START, %eax
    jb 3f
    orl $(PTE_PCD + PTE_PWT), %edx
3:  movl %edx, boot_pd(, %ecx, 8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $2048, %ecx
    jb 2b

    lgdt gdt64_ptr
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss

    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PE_PG, %eax
    movl %eax, %cr0
    ljmp $0x08, $entry64

    .code64
entry64:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq $(boot_stack + 65536), %rsp
    call guest_start
4:  cli
    hlt
    jmp 4b

    .section .bss
    .balign 4096
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4 * 4096
