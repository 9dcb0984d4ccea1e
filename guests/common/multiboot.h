/* Multiboot 1 and 2 boot information layouts (Multiboot 0.6.96 §3.3; Multiboot 2.0 §3.6). */
#ifndef GUEST_MULTIBOOT_H
#define GUEST_MULTIBOOT_H

#include <stdint.h>

#define MB1_BOOT_MAGIC 0x2BADB002u
#define MB2_BOOT_MAGIC 0x36D76289u

/* Multiboot 1 §3.3 Boot information format. */
struct __attribute__((packed)) mb1_info {
    uint32_t flags;
    uint32_t mem_lower, mem_upper;      /* flags bit 0 */
    uint32_t boot_device;               /* bit 1 */
    uint32_t cmdline;                   /* bit 2 */
    uint32_t mods_count, mods_addr;     /* bit 3 */
    uint32_t syms[4];                   /* bit 4 or 5 */
    uint32_t mmap_length, mmap_addr;    /* bit 6 */
    uint32_t drives_length, drives_addr;/* bit 7 */
    uint32_t config_table;              /* bit 8 */
    uint32_t boot_loader_name;          /* bit 9 */
    uint32_t apm_table;                 /* bit 10 */
};

#define MB1_INFO_MEMORY   (1u << 0)
#define MB1_INFO_CMDLINE  (1u << 2)
#define MB1_INFO_MODS     (1u << 3)
#define MB1_INFO_MMAP     (1u << 6)
#define MB1_INFO_LOADER   (1u << 9)

struct __attribute__((packed)) mb1_module {
    uint32_t mod_start, mod_end, string, reserved;
};

/* The size field precedes the entry and does not count itself. */
struct __attribute__((packed)) mb1_mmap_entry {
    uint32_t size;
    uint64_t base_addr;
    uint64_t length;
    uint32_t type;
};

/* Multiboot 2 §3.6 (boot information format): fixed part, then 8-byte aligned tags ending
 * with type 0 size 8. */
struct __attribute__((packed)) mb2_info {
    uint32_t total_size;
    uint32_t reserved;
};

struct __attribute__((packed)) mb2_tag {
    uint32_t type;
    uint32_t size;
};

/* Tag types (Multiboot 2 §3.6, one subsection per tag). */
#define MB2_TAG_END        0
#define MB2_TAG_CMDLINE    1  /* string */
#define MB2_TAG_LOADER     2  /* string */
#define MB2_TAG_MODULE     3  /* mod_start, mod_end, string */
#define MB2_TAG_MEMINFO    4  /* mem_lower, mem_upper */
#define MB2_TAG_MMAP       6  /* entry_size, entry_version, entries */
#define MB2_TAG_ACPI_OLD   14 /* copy of RSDPv1 */
#define MB2_TAG_ACPI_NEW   15 /* copy of RSDPv2 */

struct __attribute__((packed)) mb2_tag_string { uint32_t type, size; char string[]; };
struct __attribute__((packed)) mb2_tag_module { uint32_t type, size, mod_start, mod_end; char string[]; };
struct __attribute__((packed)) mb2_tag_meminfo { uint32_t type, size, mem_lower, mem_upper; };
struct __attribute__((packed)) mb2_tag_mmap { uint32_t type, size, entry_size, entry_version; };
struct __attribute__((packed)) mb2_mmap_entry { uint64_t base_addr, length; uint32_t type, reserved; };

/* Checks the structure at addr: sizes, 8-byte tag alignment, tags inside total_size, an end
 * tag last. Returns NULL if valid, else a reason. */
const char *mb2_validate(uint64_t addr);

/* Next tag of the given type after `after` (NULL: from the start); NULL if none. Only for
 * a structure mb2_validate accepted. */
const struct mb2_tag *mb2_find_tag(uint64_t addr, uint32_t type, const struct mb2_tag *after);

/* Prints "mmap base=0x.. len=0x.. type=N" lines for a tag 6; returns NULL or a reason. */
const char *mb2_print_mmap(const struct mb2_tag *tag);

#endif
