/* Storage for the values the boot stubs (boot/entry32.S, boot/elf64.S) capture on entry,
 * and the boot CPU's stack. */
#include "guest.h"

uint32_t boot_magic;
uint64_t boot_info;
uint32_t boot_cr0_32;
uint32_t boot_eflags_32;
uint64_t boot_rdi, boot_rsi, boot_rsp, boot_rflags;
uint64_t boot_cr0, boot_cr3, boot_cr4, boot_efer;
uint16_t boot_cs;

/* 64 KiB boot stack; the stubs set RSP to its end. */
__attribute__((aligned(16))) uint8_t boot_stack[65536];
