/* mbinfo: multiboot 1. Prints the boot information (Multiboot 0.6.96 §3.3) one field per
 * line, then the RSDP found by scanning, the MADT CPU count and CR0/EFLAGS as captured at
 * the 32-bit entry; "done" and v=0. An inconsistency prints "FAIL <reason>", v=1. */
#include "acpi.h"
#include "fnv.h"
#include "guest.h"
#include "multiboot.h"

static int fail(const char *reason) {
    printf("FAIL %s\n", reason);
    return EXIT_FAIL;
}

/* A NUL-terminated string at a 32-bit physical address; bounded so a bad pointer cannot
 * run away. */
static const char *string_at(uint32_t addr) {
    const char *s = (const char *)(uintptr_t)addr;
    return (addr && strnlen(s, 4096) < 4096) ? s : 0;
}

int main(void) {
    printf("magic=0x%x\n", boot_magic);
    if (boot_magic != MB1_BOOT_MAGIC) return fail("bad magic");
    if (boot_info == 0) return fail("info address is 0");
    const struct mb1_info *mb = (const struct mb1_info *)(uintptr_t)boot_info;

    if (!(mb->flags & MB1_INFO_MEMORY)) return fail("flags bit 0 (mem_lower/mem_upper) not set");
    printf("mem_lower=%u mem_upper=%u\n", mb->mem_lower, mb->mem_upper);

    const char *cmdline = "";
    if (mb->flags & MB1_INFO_CMDLINE) {
        cmdline = string_at(mb->cmdline);
        if (!cmdline) return fail("cmdline not a string");
    }
    printf("cmdline=[%s]\n", cmdline);

    const char *loader = "";
    if (mb->flags & MB1_INFO_LOADER) {
        loader = string_at(mb->boot_loader_name);
        if (!loader) return fail("boot_loader_name not a string");
    }
    printf("loader=[%s]\n", loader);

    uint32_t mods = (mb->flags & MB1_INFO_MODS) ? mb->mods_count : 0;
    printf("mods=%u\n", mods);
    const struct mb1_module *mod = (const struct mb1_module *)(uintptr_t)mb->mods_addr;
    for (uint32_t i = 0; i < mods; i++) {
        if (mod[i].mod_end < mod[i].mod_start) return fail("module end < start");
        const char *s = mod[i].string ? string_at(mod[i].string) : "";
        if (!s) return fail("module string not a string");
        uint32_t h = fnv1a32((const void *)(uintptr_t)mod[i].mod_start, mod[i].mod_end - mod[i].mod_start);
        printf("mod %u start=0x%x end=0x%x string=[%s] fnv=0x%08x\n", i, mod[i].mod_start,
               mod[i].mod_end, s, h);
    }

    if (!(mb->flags & MB1_INFO_MMAP)) return fail("flags bit 6 (mmap) not set");
    /* Entries are size-prefixed; size excludes the size field itself. */
    uint64_t p = mb->mmap_addr, end = (uint64_t)mb->mmap_addr + mb->mmap_length;
    while (p < end) {
        const struct mb1_mmap_entry *e = (const struct mb1_mmap_entry *)(uintptr_t)p;
        if (e->size < 20) return fail("mmap entry size < 20");
        printf("mmap base=0x%lx len=0x%lx type=%u\n", e->base_addr, e->length, e->type);
        p += e->size + 4;
    }
    if (p != end) return fail("mmap entries overrun mmap_length");

    const struct acpi_rsdp *rsdp = acpi_find_rsdp();
    if (!rsdp) return fail("no RSDP in 0xE0000-0xFFFFF");
    printf("rsdp=0x%lx\n", (uint64_t)(uintptr_t)rsdp);
    int cpus = acpi_madt_cpus(0, 0);
    if (cpus < 0) return fail("no valid MADT");
    printf("cpus=%d\n", cpus);
    printf("entry cr0=0x%x eflags=0x%x\n", boot_cr0_32, boot_eflags_32);
    printf("done\n");
    return EXIT_PASS;
}
