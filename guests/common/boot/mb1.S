/* Multiboot 1 boot: header (Multiboot 1 §3.1.1) then the shared 32-bit entry.
 * Include from a guest's entry.S; the linker script puts .multiboot first, so the header
 * lies in the first 8 KiB of the file, 4-byte aligned. */
#define MB1_MAGIC 0x1BADB002
/* flags: bit 0 page-align modules, bit 1 provide memory information. No bit 16: the
 * loader takes addresses from the ELF program headers. */
#define MB1_FLAGS 0x00000003

    .section .multiboot, "a"
    .balign 4
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long 0x100000000 - (MB1_MAGIC + MB1_FLAGS) /* checksum: the three sum to 0 mod 2^32 */

#include "boot/entry32.S"
