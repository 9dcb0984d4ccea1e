/* elf64entry: a plain ELF64 kernel with no multiboot header, entered in long mode
 * (boot/elf64.S captured the entry registers). Prints them and the multiboot 2 information
 * at RDI; "done" and v=0. A contract violation prints "FAIL <reason>", v=1. */
#include "guest.h"
#include "multiboot.h"

static int fail(const char *reason) {
    printf("FAIL %s\n", reason);
    return EXIT_FAIL;
}

/* The contract says 0-4 GiB is identity-mapped with 2 MiB pages: walk the entry CR3's
 * tables (SDM Vol. 3A §4.5: PML4 -> PDPT -> PD with PS=1) for every 2 MiB page. */
static const char *check_identity_map(uint64_t cr3) {
    const uint64_t addr_mask = 0x000FFFFFFFFFF000ull;
    const uint64_t *pml4 = (const uint64_t *)(uintptr_t)(cr3 & addr_mask);
    if (!(pml4[0] & 1)) return "PML4[0] not present";
    const uint64_t *pdpt = (const uint64_t *)(uintptr_t)(pml4[0] & addr_mask);
    for (int i = 0; i < 4; i++) {
        if (!(pdpt[i] & 1)) return "PDPT entry for 0-4 GiB not present";
        if (pdpt[i] & 0x80) return "PDPT entry is a 1 GiB page (host cannot run those)";
        const uint64_t *pd = (const uint64_t *)(uintptr_t)(pdpt[i] & addr_mask);
        for (int j = 0; j < 512; j++) {
            uint64_t want = ((uint64_t)i << 30) | ((uint64_t)j << 21);
            if ((pd[j] & 0x81) != 0x81) return "PD entry not a present 2 MiB page";
            if ((pd[j] & 0x000FFFFFFFE00000ull) != want) return "PD entry not identity";
        }
    }
    return 0;
}

int main(void) {
    printf("rsi=0x%lx\n", boot_rsi);
    printf("rdi=0x%lx\n", boot_rdi);
    printf("rsp_aligned=%d\n", (boot_rsp % 16) == 0);
    printf("if=%d\n", (int)((boot_rflags >> 9) & 1));
    printf("lma=%d\n", (int)((boot_efer & EFER_LMA) != 0));
    if (boot_rsi != MB2_BOOT_MAGIC) return fail("RSI is not 0x36d76289");
    if (!(boot_efer & EFER_LMA)) return fail("EFER.LMA is 0");
    if (boot_rflags & RFLAGS_IF) return fail("interrupts enabled at entry");
    const char *bad = check_identity_map(boot_cr3);
    if (bad) return fail(bad);

    uint64_t info = boot_rdi;
    if ((bad = mb2_validate(info))) return fail(bad);
    const char *cmdline = "";
    const struct mb2_tag *t = mb2_find_tag(info, MB2_TAG_CMDLINE, 0);
    if (t) {
        cmdline = (const char *)t + 8;
        if (t->size <= 8 || strnlen(cmdline, t->size - 8) >= t->size - 8)
            return fail("cmdline tag string not terminated");
    }
    printf("cmdline=[%s]\n", cmdline);
    if (!(t = mb2_find_tag(info, MB2_TAG_MMAP, 0))) return fail("no mmap tag (6)");
    if ((bad = mb2_print_mmap(t))) return fail(bad);
    printf("done\n");
    return EXIT_PASS;
}
