/* cpu-features: every feature the VMM advertises must work. The command line names the
 * features the VMM set in CPUID ("pcid fsgsbase ..."); for each exercisable one the guest
 * checks CPUID shows it and exercises it, printing "<name> ok" (a fault ends the run
 * through the common exception handler, exit 100). For every feature CPUID shows that is
 * NOT on the command line it prints "<name> leaked" (a host whose CPUID cannot be
 * narrowed, such as kvm_pvm). SIMD features are never exercised: guests are integer-only.
 * Ends with "done". (Intel SDM Vol. 2A CPUID; Vol. 3A §4.10.1 PCID, §4.5 1-GByte pages,
 * §13.3 XSAVE enabling; Vol. 3C §24.7 IA32_FEATURE_CONTROL.) */
#include "guest.h"
#include "multiboot.h"

#define CR4_FSGSBASE (1ul << 16)
#define CR4_PCIDE    (1ul << 17)
#define CR4_OSXSAVE  (1ul << 18)
#define MSR_FEATURE_CONTROL 0x3A
#define MSR_TSC_AUX 0xC0000103

static void write_cr4(uint64_t v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }

/* CR4.PCIDE may be set only with CR3[11:0] = 0 (Vol. 3A §4.10.1); the boot tables are
 * page-aligned, so PCID 0 is current. */
static void check_pcid(void) {
    write_cr4(read_cr4() | CR4_PCIDE);
    int on = (read_cr4() & CR4_PCIDE) != 0;
    write_cr4(read_cr4() & ~CR4_PCIDE);
    printf("pcid %s\n", on ? "ok" : "FAIL");
}

/* Map virtual 4 GiB..5 GiB as one 1-GiB page onto physical 0 and read a variable through it. */
static volatile uint64_t marker = 0x1D00D1EC0FFEEull;
static void check_1gb_pages(void) {
    uint64_t *pml4 = (uint64_t *)(read_cr3() & ~0xFFFul);
    uint64_t *pdpt = (uint64_t *)(pml4[0] & 0x000FFFFFFFFFF000ul);
    pdpt[4] = 0x0ul | 0x83;   /* present, writable, PS */
    __asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
    uint64_t seen = *(volatile uint64_t *)((uint64_t)&marker + (4ul << 30));
    pdpt[4] = 0;
    __asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
    printf("pdpe1gb %s\n", seen == marker ? "ok" : "FAIL");
}

static void check_xsave(void) {
    write_cr4(read_cr4() | CR4_OSXSAVE);
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    printf("xsave %s xcr0=0x%x\n", (lo & 1) ? "ok" : "FAIL", lo);   /* x87 state is always enabled */
}

static void check_fsgsbase(void) {
    write_cr4(read_cr4() | CR4_FSGSBASE);
    uint64_t value = 0x12345000, back;
    __asm__ volatile("wrfsbase %1; rdfsbase %0" : "=r"(back) : "r"(value));
    __asm__ volatile("wrfsbase %0" :: "r"(0ul));
    printf("fsgsbase %s\n", back == value ? "ok" : "FAIL");
}

static void check_rdtscp(void) {
    wrmsr(MSR_TSC_AUX, 7);
    uint32_t lo, hi, aux;
    __asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    printf("rdtscp %s\n", aux == 7 ? "ok" : "FAIL");
}

/* VMX advertised ⇔ IA32_FEATURE_CONTROL locked with VMXON-outside-SMX; otherwise locked, off. */
static void check_vmx(uint32_t ecx1) {
    uint64_t control = rdmsr(MSR_FEATURE_CONTROL);
    int vmx = (ecx1 >> 5) & 1;
    int ok = (control & 1) && (((control >> 2) & 1) == (uint64_t)vmx);
    printf("vmx %s feature_control=0x%lx%s\n", ok ? "ok" : "FAIL", control, vmx ? "" : " (not advertised)");
}

static int listed(const char *cmdline, const char *name) {
    size_t n = strlen(name);
    for (const char *p = cmdline; *p; p++)
        if ((p == cmdline || p[-1] == ' ') && strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

static const struct feature {
    const char *name;
    int reg;            /* 0: 1:ECX, 1: 7:EBX, 2: 80000001:EDX */
    int bit;
    void (*check)(void); /* 0: reported only */
} features[] = {
    {"pcid", 0, 17, check_pcid}, {"pdpe1gb", 2, 26, check_1gb_pages}, {"xsave", 0, 26, check_xsave},
    {"fsgsbase", 1, 0, check_fsgsbase}, {"rdtscp", 2, 27, check_rdtscp},
    {"sse3", 0, 0, 0}, {"ssse3", 0, 9, 0}, {"sse4.1", 0, 19, 0}, {"sse4.2", 0, 20, 0}, {"avx", 0, 28, 0},
};

int main(void) {
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *cmdline = (info->flags & MB1_INFO_CMDLINE) ? (const char *)(uintptr_t)info->cmdline : "";
    struct cpuid_regs l1 = cpuid(1, 0), l7 = cpuid(7, 0), e1 = cpuid(0x80000001, 0);
    uint32_t regs[3] = {l1.ecx, l7.ebx, e1.edx};
    printf("advertised: %s\n", cmdline);
    for (unsigned i = 0; i < sizeof features / sizeof features[0]; i++) {
        const struct feature *f = &features[i];
        int shown = (regs[f->reg] >> f->bit) & 1, wanted = listed(cmdline, f->name);
        if (wanted && !shown) printf("%s FAIL: advertised but CPUID does not show it\n", f->name);
        else if (!wanted && shown) printf("%s leaked\n", f->name);
        else if (wanted && f->check) f->check();
        else if (wanted) printf("%s shown (not exercised: integer-only guest)\n", f->name);
        else printf("%s absent\n", f->name);
    }
    check_vmx(l1.ecx);
    printf("done\n");
    return EXIT_PASS;
}
