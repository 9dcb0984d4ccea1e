/* mbinfo2: multiboot 2. Prints the boot information tags (Multiboot 2.0 §3.6) in mbinfo's
 * line format, plus whether the ACPI RSDP copies (tags 14/15) match the RSDP found by
 * scanning; "done" and v=0. An inconsistency prints "FAIL <reason>", v=1. */
#include "acpi.h"
#include "fnv.h"
#include "guest.h"
#include "multiboot.h"

static int fail(const char *reason) {
    printf("FAIL %s\n", reason);
    return EXIT_FAIL;
}

/* The string of a string-carrying tag must end with NUL inside the tag. */
static const char *tag_string(const struct mb2_tag *t, uint32_t offset) {
    if (t->size <= offset) return 0;
    const char *s = (const char *)t + offset;
    return strnlen(s, t->size - offset) < t->size - offset ? s : 0;
}

int main(void) {
    printf("magic=0x%x\n", boot_magic);
    if (boot_magic != MB2_BOOT_MAGIC) return fail("bad magic");
    const char *bad = mb2_validate(boot_info);
    if (bad) return fail(bad);
    uint64_t info = boot_info;

    const struct mb2_tag *t = mb2_find_tag(info, MB2_TAG_MEMINFO, 0);
    if (!t) return fail("no basic meminfo tag (4)");
    if (t->size < 16) return fail("meminfo tag too small");
    const struct mb2_tag_meminfo *mem = (const struct mb2_tag_meminfo *)t;
    printf("mem_lower=%u mem_upper=%u\n", mem->mem_lower, mem->mem_upper);

    const char *cmdline = "";
    if ((t = mb2_find_tag(info, MB2_TAG_CMDLINE, 0))) {
        cmdline = tag_string(t, 8);
        if (!cmdline) return fail("cmdline tag string not terminated");
    }
    printf("cmdline=[%s]\n", cmdline);

    const char *loader = "";
    if ((t = mb2_find_tag(info, MB2_TAG_LOADER, 0))) {
        loader = tag_string(t, 8);
        if (!loader) return fail("loader tag string not terminated");
    }
    printf("loader=[%s]\n", loader);

    uint32_t mods = 0;
    for (t = mb2_find_tag(info, MB2_TAG_MODULE, 0); t; t = mb2_find_tag(info, MB2_TAG_MODULE, t))
        mods++;
    printf("mods=%u\n", mods);
    uint32_t i = 0;
    for (t = mb2_find_tag(info, MB2_TAG_MODULE, 0); t; t = mb2_find_tag(info, MB2_TAG_MODULE, t), i++) {
        const struct mb2_tag_module *m = (const struct mb2_tag_module *)t;
        const char *s = tag_string(t, 16);
        if (!s) return fail("module tag string not terminated");
        if (m->mod_end < m->mod_start) return fail("module end < start");
        uint32_t h = fnv1a32((const void *)(uintptr_t)m->mod_start, m->mod_end - m->mod_start);
        printf("mod %u start=0x%x end=0x%x string=[%s] fnv=0x%08x\n", i, m->mod_start, m->mod_end, s, h);
    }

    if (!(t = mb2_find_tag(info, MB2_TAG_MMAP, 0))) return fail("no mmap tag (6)");
    if ((bad = mb2_print_mmap(t))) return fail(bad);

    const struct acpi_rsdp *rsdp = acpi_find_rsdp();
    if (!rsdp) return fail("no RSDP in 0xE0000-0xFFFFF");
    printf("rsdp=0x%lx\n", (uint64_t)(uintptr_t)rsdp);
    t = mb2_find_tag(info, MB2_TAG_ACPI_OLD, 0);
    int old_ok = t && t->size >= 8 + 20 && memcmp((const uint8_t *)t + 8, rsdp, 20) == 0;
    printf("acpi_old=%d\n", old_ok);
    t = mb2_find_tag(info, MB2_TAG_ACPI_NEW, 0);
    int new_ok = t && t->size >= 8 + 36 && rsdp->revision >= 2 && memcmp((const uint8_t *)t + 8, rsdp, 36) == 0;
    printf("acpi_new=%d\n", new_ok);

    int cpus = acpi_madt_cpus(0, 0);
    if (cpus < 0) return fail("no valid MADT");
    printf("cpus=%d\n", cpus);
    printf("entry cr0=0x%x eflags=0x%x\n", boot_cr0_32, boot_eflags_32);
    printf("done\n");
    return EXIT_PASS;
}
