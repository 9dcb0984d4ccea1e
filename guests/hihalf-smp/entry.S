/* hihalf-smp boot: a multiboot 2 header with only the end tag (no address, entry or
 * information-request tags: the loader must take everything from the ELF64 program
 * headers), a 32-bit entry in the identity-linked .low section that builds the page tables
 * and enters long mode, then a jump to the kernel in the high half (guest.ld).
 *
 * Page tables (SDM Vol. 3A §4.5, 4-level paging), in .low's bss, zeroed by the loader:
 *   PML4[0]   -> pdpt_low:  PDPT[0..3]  -> pd[0..3]: 0-4 GiB identity, 2 MiB pages
 *                           (0xFEC00000-4 GiB uncached: I/O APIC, HPET, local APIC)
 *   PML4[511] -> pdpt_high: PDPT[510,511] -> pd[0], pd[1]: 0xFFFFFFFF80000000 -> 0-2 GiB
 * The identity half stays: ACPI tables, device registers, the AP trampoline at 0x70000 and
 * the warm-reset vector are reached at their physical addresses. The APs load the same CR3.
 * The 32-bit part is moves, loops and control-register writes only (the host KVM cannot
 * emulate 32-bit iret/int; PLATFORM-NOTES). */
#define MB2_MAGIC     0xE85250D6
#define MB2_ARCH_I386 0

#define MSR_EFER  0xC0000080
#define EFER_LME  0x100
#define CR4_PAE   0x20
#define CR0_PE_PG 0x80000001
#define PTE_P     0x01
#define PTE_RW    0x02
#define PTE_PWT   0x08
#define PTE_PCD   0x10
#define PTE_PS    0x80
#define MMIO_START 0xFEC00000

    .section .multiboot, "a"
    .balign 8
mb2_header:                         /* Multiboot 2 §3.1.1-3.1.3 */
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    .short 0                        /* end tag: type 0, flags 0, size 8 */
    .short 0
    .long 8
mb2_header_end:

    .section .text.low, "ax"
    .code32
    .globl _start
_start:
    /* EAX = 0x36D76289, EBX = information structure (Multiboot 2 §3.3); kept in EDI/ESI,
     * which nothing below touches, for the 64-bit code. */
    movl %eax, %edi
    movl %ebx, %esi

    movl $(pdpt_low + PTE_P + PTE_RW), pml4
    movl $(pdpt_high + PTE_P + PTE_RW), pml4 + 511 * 8
    movl $(pd + PTE_P + PTE_RW), %eax
    xorl %ecx, %ecx
1:  movl %eax, pdpt_low(, %ecx, 8)
    addl $4096, %eax
    incl %ecx
    cmpl $4, %ecx
    jb 1b
    movl $(pd + PTE_P + PTE_RW), pdpt_high + 510 * 8
    movl $(pd + 4096 + PTE_P + PTE_RW), pdpt_high + 511 * 8

    movl $(PTE_P + PTE_RW + PTE_PS), %eax     /* PD entry i: 2 MiB page at i * 2 MiB */
    xorl %ecx, %ecx
2:  movl %eax, %edx
    cmpl $MMIO_START, %eax
    jb 3f
    orl $(PTE_PCD + PTE_PWT), %edx
3:  movl %edx, pd(, %ecx, 8)
    addl $0x200000, %eax
    incl %ecx
    cmpl $2048, %ecx
    jb 2b

    lgdt low_gdt_ptr
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    /* SDM Vol. 3A §10.8.5 Initializing IA-32e mode: CR4.PAE, CR3, EFER.LME, CR0.PG. */
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $CR0_PE_PG, %eax
    movl %eax, %cr0
    ljmp $0x08, $low64

    .code64
low64:
    movabsq $high64, %rax
    jmp *%rax

    .section .data.low, "aw"
    .balign 8
low_gdt:
    .quad 0
    .quad 0x00AF9B000000FFFF        /* 0x08: 64-bit code */
    .quad 0x00CF93000000FFFF        /* 0x10: flat data */
low_gdt_end:
low_gdt_ptr:
    .word low_gdt_end - low_gdt - 1
    .long low_gdt

    .section .bss.low, "aw", @nobits
    .balign 4096
    .globl pml4
pml4:      .skip 4096
pdpt_low:  .skip 4096
pdpt_high: .skip 4096
pd:        .skip 4 * 4096

/* From here on: linked at 0xFFFFFFFF80000000 + physical. */
    .text
    .code64
high64:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq $(boot_stack + 65536), %rsp
    movl %edi, boot_magic(%rip)
    movl %esi, %esi
    movq %rsi, boot_info(%rip)
    call guest_start
4:  cli
    hlt
    jmp 4b
