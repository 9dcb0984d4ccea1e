/* msr-table: reads a table of model-specific registers and prints each value or GP, then
 * checks MPERF/APERF advance, unknown-MSR behaviour and the TSC MSR; BSP only, v=0 (the
 * host test judges the printed lines).
 *   A #GP (vector 13) handler turns a faulting RDMSR (0F 32) or WRMSR (0F 30) into a flag:
 *   it sets this CPU's msr_gp[] flag, zeroes RAX/RDX and resumes after the 2-byte
 *   instruction (the #GP return address is the faulting instruction, SDM Vol. 3A §6.15
 *   "Interrupt 13"; RDMSR/WRMSR raise #GP(0) for reserved or unimplemented MSRs, SDM Vol. 2).
 *   Any other #GP prints like the default handler and exits 100.
 * Output:
 *   msr 0x<index>=0x<value> | msr 0x<index>=GP       for each MSR in table[]
 *   mperf_advances=<1|0> aperf_advances=<1|0>       (0 if the MSR #GPs or did not grow
 *                                                    over ~1 ms of TSC)
 *   unknown_read 0x12345=0x<v>|GP, unknown_write 0x12345=ok|GP (value 5),
 *   unknown_read 0xc0011234=0x<v>|GP, tsc_msr=ok|GP (MSR 0x10), done */
#include "cpu.h"
#include "guest.h"
#include "idt.h"
#include "tsc.h"

static volatile uint8_t msr_gp[MAX_CPUS]; /* set by gp_handler, per CPU index */

static void gp_handler(struct isr_frame *f) {
    const volatile uint8_t *ip = (const volatile uint8_t *)f->rip;
    if (ip[0] == 0x0F && (ip[1] == 0x32 || ip[1] == 0x30)) {
        msr_gp[this_cpu()->index] = 1;
        if (ip[1] == 0x32) f->rax = f->rdx = 0; /* a failed RDMSR yields 0 */
        f->rip += 2;
        return;
    }
    panic_printf("EXCEPTION #GP vector=%lu error=0x%lx rip=0x%lx cs=0x%lx rflags=0x%lx rsp=0x%lx\n",
                 f->vector, f->error, f->rip, f->cs, f->rflags, f->rsp);
    guest_exit(EXIT_EXCEPTION);
}

/* RDMSR that returns 0 and stores the value in *v, or returns -1 on #GP. */
static int rdmsr_safe(uint32_t msr, uint64_t *v) {
    volatile uint8_t *flag = &msr_gp[this_cpu()->index];
    uint32_t lo, hi;
    *flag = 0;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr) : "memory");
    if (*flag) {
        *v = 0;
        return -1;
    }
    *v = ((uint64_t)hi << 32) | lo;
    return 0;
}

/* WRMSR that returns 0, or -1 on #GP. */
static int wrmsr_safe(uint32_t msr, uint64_t v) {
    volatile uint8_t *flag = &msr_gp[this_cpu()->index];
    *flag = 0;
    __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
    return *flag ? -1 : 0;
}

static const uint32_t table[] = {
    0xCE,  /* MSR_PLATFORM_INFO */
    0x1B,  /* IA32_APIC_BASE */
    0x6E0, /* IA32_TSC_DEADLINE */
    0x3A,  /* IA32_FEATURE_CONTROL */
    0x17,  /* IA32_PLATFORM_ID */
    0x8B,  /* IA32_BIOS_SIGN_ID (microcode revision) */
    0x34,  /* MSR_SMI_COUNT */
    0xE7,  /* IA32_MPERF */
    0xE8,  /* IA32_APERF */
    0x1A0, /* IA32_MISC_ENABLE */
    0x198, /* IA32_PERF_STATUS */
    0x199, /* IA32_PERF_CTL */
    0x19C, /* IA32_THERM_STATUS */
    0x1A2, /* MSR_TEMPERATURE_TARGET */
    0x606, /* MSR_RAPL_POWER_UNIT */
    0x611, /* MSR_PKG_ENERGY_STATUS */
    0x639, /* MSR_PP0_ENERGY_STATUS */
    0x641, /* MSR_PP1_ENERGY_STATUS */
    0x35,  /* MSR_CORE_THREAD_COUNT */
};

static void print_read(const char *label, uint32_t msr) {
    uint64_t v;
    if (rdmsr_safe(msr, &v) == 0)
        printf("%s 0x%x=0x%lx\n", label, msr, v);
    else
        printf("%s 0x%x=GP\n", label, msr);
}

int main(void) {
    idt_set_handler(13, gp_handler);

    for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++) print_read("msr", table[i]);

    uint64_t m0, a0, m1, a1;
    int mok = rdmsr_safe(0xE7, &m0) == 0;
    int aok = rdmsr_safe(0xE8, &a0) == 0;
    delay_us(1000);
    mok = rdmsr_safe(0xE7, &m1) == 0 && mok;
    aok = rdmsr_safe(0xE8, &a1) == 0 && aok;
    printf("mperf_advances=%d\n", mok && m1 > m0);
    printf("aperf_advances=%d\n", aok && a1 > a0);

    print_read("unknown_read", 0x12345);
    printf("unknown_write 0x12345=%s\n", wrmsr_safe(0x12345, 5) == 0 ? "ok" : "GP");
    print_read("unknown_read", 0xC0011234);

    uint64_t tsc;
    printf("tsc_msr=%s\n", rdmsr_safe(0x10, &tsc) == 0 ? "ok" : "GP");
    printf("done\n");
    return EXIT_PASS;
}
