/* 256 interrupt stubs, each 16-byte aligned so vector v's stub is at isr_stubs + 16*v.
 * Vectors without a CPU-pushed error code push 0 so every frame has the same layout
 * (error-code vectors: SDM Vol. 3A §6.3.1 exception table / §6.15: 8, 10-14, 17, 21, 29, 30).
 * isr_common saves the general registers, calls isr_dispatch(frame) and returns with iretq.
 * Stack: the CPU aligns RSP to 16 and pushes 5 qwords; with 2 + 15 more pushes RSP is
 * 16-byte aligned at the call, as the SysV ABI requires. */
    .text
    .code64
    .globl isr_stubs
    .balign 16
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    cld
    call isr_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq
