/* Multiboot 2 boot: header (Multiboot 2 §3.1.1-3.1.3) with no tags but the end tag, so no
 * information request: the loader gives what it has. Then the shared 32-bit entry.
 * The linker script puts .multiboot first: in the first 32 KiB, 8-byte aligned. */
#define MB2_MAGIC 0xE85250D6
#define MB2_ARCH_I386 0

    .section .multiboot, "a"
    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long MB2_ARCH_I386
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_MAGIC + MB2_ARCH_I386 + (mb2_header_end - mb2_header))
    /* end tag: type 0, flags 0, size 8 */
    .short 0
    .short 0
    .long 8
mb2_header_end:

#include "boot/entry32.S"
