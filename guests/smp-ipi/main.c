/* smp-ipi: inter-processor interrupts through the local APIC ICR (SDM Vol. 3A §11.6).
 * All CPUs (APs started from the MADT with INIT-SIPI-SIPI) run these checks in lock-step;
 * every IPI is counted by its receiver and each sender waits for the count before sending
 * the next one with the same vector (a second IPI on a vector still pending in IRR would
 * legitimately merge with the first), so every count must be exact:
 *   fixed                every ordered pair (i, j), i != j, ROUNDS times, vector 0x80 + i
 *   broadcast-excl-self  shorthand 11b, from each CPU in turn
 *   broadcast-incl-self  shorthand 10b, from each CPU in turn
 *   self                 shorthand 01b, ROUNDS times on each CPU
 *   self-ipi-msr         (x2APIC only) SELF_IPI MSR 0x83F, ROUNDS times (§11.12.11)
 *   logical              logical destination mode (§11.6.2.2): xAPIC flat model (DFR all 1s,
 *                        LDR = 1 << APIC ID, for APIC IDs < 8), x2APIC cluster model (LDR
 *                        read-only, §11.12.10.2); a multicast to all and a unicast to each
 *   nmi                  NMI delivery mode from each CPU to each CPU (vector 2 handler)
 *   tpr                  self-IPI on vector 0x65 (class 6) stays pending while TPR = 0x60,
 *                        is delivered once TPR = 0x50 (§11.8.3.1)
 * One line per check from the boot CPU, then "smp-ipi: PASS" (v=0) or "smp-ipi: FAIL"
 * (v=3); a global ~10 s TSC watchdog prints "smp-ipi: TIMEOUT" (v=4). */
#include <config.h> /* angle brackets: the -I folders only, so the -x2apic variant gets its own */
#include "acpi.h"
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "smp.h"
#include "spinlock.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4

#define MAXC            32   /* one vector per sender for the pair test */
#define ROUNDS          3
#define VEC_PAIR_BASE   0x80 /* 0x80 + sender index */
#define VEC_BCAST_EXCL  0xA0
#define VEC_BCAST_INCL  0xA1
#define VEC_SELF        0xA2
#define VEC_SELF_MSR    0xA3
#define VEC_LOGICAL     0xA4
#define VEC_TPR         0x65 /* priority class 6 */
#define NMI_VECTOR      2
#define WAIT_US         200000u
#define SETTLE_US       2000u

static volatile uint32_t pair_count[MAXC][MAXC]; /* [receiver][sender] */
static volatile uint32_t bex[MAXC], bin[MAXC], self_cnt[MAXC], selfmsr_cnt[MAXC];
static volatile uint32_t logical_cnt[MAXC], nmi_cnt[MAXC], tpr_cnt[MAXC];
static uint32_t ldr[MAXC];        /* each CPU's logical ID as it reads LDR */
static int logical_member[MAXC];  /* takes part in the logical test */

static uint32_t ncpu;
static volatile uint32_t go;
static struct barrier bar;
static spinlock_t fail_lock;
static int phase_failed, any_failed;
static char phase_reason[128];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
    spin_lock(&fail_lock);
    if (!phase_failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(phase_reason, sizeof(phase_reason), fmt, ap);
        va_end(ap);
    }
    phase_failed = 1;
    spin_unlock(&fail_lock);
}

static uint32_t me(void) { return this_cpu()->index; }

static void count_isr(struct isr_frame *f) {
    uint32_t v = (uint32_t)f->vector, i = me();
    if (v >= VEC_PAIR_BASE && v < VEC_PAIR_BASE + MAXC) pair_count[i][v - VEC_PAIR_BASE]++;
    else if (v == VEC_BCAST_EXCL) bex[i]++;
    else if (v == VEC_BCAST_INCL) bin[i]++;
    else if (v == VEC_SELF) self_cnt[i]++;
    else if (v == VEC_SELF_MSR) selfmsr_cnt[i]++;
    else if (v == VEC_LOGICAL) logical_cnt[i]++;
    else if (v == VEC_TPR) tpr_cnt[i]++;
    lapic_eoi();
}

static void nmi_isr(struct isr_frame *f) {
    (void)f;
    nmi_cnt[me()]++; /* no EOI: only fixed interrupts are acknowledged (§11.8.5) */
}

/* Waits until *p >= want; records a failure on timeout. */
static void wait_for(volatile uint32_t *p, uint32_t want, const char *what, uint32_t cpu) {
    uint64_t end = rdtsc() + tsc_from_us(WAIT_US);
    while (*p < want) {
        if (rdtsc() > end) {
            fail("%s: cpu %u got %u, want %u (timeout)", what, cpu, *p, want);
            return;
        }
        cpu_relax();
    }
}

static void send(uint32_t dest, uint32_t low) {
    if (lapic_send_ipi(dest, low | ICR_ASSERT) != 0) fail("ICR delivery status stuck (dest %u)", dest);
}

/* Sequential steps (one sender at a time) pass a token instead of meeting at a barrier
 * after every sender: only the next sender has to run to make progress, which matters when
 * there are more vCPUs than host cores. Every CPU runs the same script, so their turn_base
 * copies stay equal. */
static volatile uint32_t turn;
static uint32_t turn_base[MAXC];

static void my_turn(uint32_t i) {
    while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) != turn_base[i] + i) cpu_relax();
}
static void end_turn(void) {
    __atomic_add_fetch(&turn, 1, __ATOMIC_ACQ_REL);
}
static void all_turns_done(uint32_t i) {
    turn_base[i] += ncpu;
    while (__atomic_load_n(&turn, __ATOMIC_ACQUIRE) < turn_base[i]) cpu_relax();
}

/* Ends a phase on all CPUs: settle, barrier, boot CPU prints, barrier. */
static void end_phase(const char *name, const char *detail) {
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (me() == 0) {
        if (phase_failed) printf("%s: FAIL %s\n", name, phase_reason);
        else printf("%s: ok%s\n", name, detail);
        any_failed |= phase_failed;
        phase_failed = 0;
    }
    barrier_wait(&bar, ncpu);
}

static void expect(volatile uint32_t *counts, uint32_t want, const char *what) {
    for (uint32_t j = 0; j < ncpu; j++)
        if (counts[j] != want) fail("%s: cpu %u got %u, want %u", what, j, counts[j], want);
}

static void test_fixed(uint32_t i) {
    for (uint32_t r = 1; r <= ROUNDS; r++)
        for (uint32_t j = 0; j < ncpu; j++) {
            if (j == i) continue;
            send(cpus[j].apic_id, ICR_FIXED | (VEC_PAIR_BASE + i));
            wait_for(&pair_count[j][i], r, "fixed", j);
        }
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0)
        for (uint32_t j = 0; j < ncpu; j++)
            for (uint32_t s = 0; s < ncpu; s++) {
                uint32_t want = s == j ? 0 : ROUNDS;
                if (pair_count[j][s] != want)
                    fail("cpu %u got %u from cpu %u, want %u", j, pair_count[j][s], s, want);
            }
    char detail[48];
    snprintf(detail, sizeof(detail), " (%u pairs x %u)", ncpu * (ncpu - 1), ROUNDS);
    end_phase("fixed", detail);
}

static void test_broadcast(uint32_t i, int include_self) {
    volatile uint32_t *cnt = include_self ? bin : bex;
    const char *name = include_self ? "broadcast-incl-self" : "broadcast-excl-self";
    my_turn(i);
    send(0, include_self ? (ICR_ALL_INCL | VEC_BCAST_INCL) : (ICR_ALL_EXCL | VEC_BCAST_EXCL));
    for (uint32_t j = 0; j < ncpu; j++) {
        if (!include_self && j == i) continue;
        /* senders 0..i have sent; an excluding broadcast skips its own sender */
        uint32_t want = i + 1 - (!include_self && j < i ? 1 : 0);
        wait_for(&cnt[j], want, name, j);
    }
    end_turn();
    all_turns_done(i);
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0) expect(cnt, include_self ? ncpu : ncpu - 1, name);
    end_phase(name, "");
}

static void test_self(uint32_t i) {
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        send(0, ICR_SELF | VEC_SELF);
        wait_for(&self_cnt[i], r, "self", i);
    }
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0) expect(self_cnt, ROUNDS, "self");
    end_phase("self", "");
    if (!USE_X2APIC) return;
    for (uint32_t r = 1; r <= ROUNDS; r++) {
        wrmsr(MSR_X2APIC_SELF_IPI, VEC_SELF_MSR);
        wait_for(&selfmsr_cnt[i], r, "self-ipi-msr", i);
    }
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0) expect(selfmsr_cnt, ROUNDS, "self-ipi-msr");
    end_phase("self-ipi-msr", "");
}

/* Logical destination for a set of CPUs given as a bit mask of CPU indexes; all members of
 * one xAPIC flat group, or one x2APIC cluster per call. */
static uint32_t logical_dest(uint64_t members) {
    uint32_t d = 0;
    for (uint32_t j = 0; j < ncpu; j++)
        if (members & (1ull << j)) d |= USE_X2APIC ? ldr[j] : ldr[j] >> 24;
    return d;
}

static void test_logical(uint32_t i) {
    if (USE_X2APIC) {
        ldr[i] = lapic_read(LAPIC_LDR); /* read-only: cluster << 16 | 1 << (id & 15) */
        logical_member[i] = 1;
    } else if (cpus[i].apic_id < 8) {
        lapic_write(LAPIC_DFR, 0xFFFFFFFFu); /* flat model */
        lapic_write(LAPIC_LDR, (1u << cpus[i].apic_id) << 24);
        ldr[i] = lapic_read(LAPIC_LDR);
        logical_member[i] = 1;
        if (ldr[i] != (1u << cpus[i].apic_id) << 24) fail("cpu %u LDR reads 0x%x", i, ldr[i]);
    }
    barrier_wait(&bar, ncpu);
    uint32_t members = 0;
    for (uint32_t j = 0; j < ncpu; j++) members += logical_member[j];
    /* members 0..i (in CPU order) have sent their multicast when it is i's turn */
    uint32_t multicasts = 0;
    for (uint32_t s = 0; s <= i; s++) multicasts += logical_member[s];
    my_turn(i);
    if (logical_member[i]) {
        /* multicast to every member (including the sender), one send per cluster */
        uint64_t done = 0;
        for (uint32_t j = 0; j < ncpu; j++) {
            if (!logical_member[j] || (done & (1ull << j))) continue;
            uint64_t group = 0;
            for (uint32_t k = j; k < ncpu; k++)
                if (logical_member[k] && (!USE_X2APIC || (ldr[k] >> 16) == (ldr[j] >> 16)))
                    group |= 1ull << k;
            done |= group;
            uint32_t dest = logical_dest(group);
            if (!USE_X2APIC && dest == 0xFF) {
                /* an MDA of all ones is the broadcast address (KVM delivers it to every
                 * APIC, LDR 0 included): send it as two multicasts instead */
                send(0x7F, ICR_LOGICAL | VEC_LOGICAL);
                send(0x80, ICR_LOGICAL | VEC_LOGICAL);
            } else {
                send(dest, ICR_LOGICAL | VEC_LOGICAL);
            }
        }
        for (uint32_t j = 0; j < ncpu; j++)
            if (logical_member[j]) wait_for(&logical_cnt[j], multicasts, "logical multicast", j);
    }
    end_turn();
    all_turns_done(i);
    /* every member got one multicast from each member; now unicasts from each to each other */
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0)
        for (uint32_t j = 0; j < ncpu; j++)
            if (logical_cnt[j] != (logical_member[j] ? members : 0))
                fail("multicast: cpu %u got %u, want %u", j, logical_cnt[j], logical_member[j] ? members : 0);
    barrier_wait(&bar, ncpu);
    my_turn(i);
    if (logical_member[i]) {
        for (uint32_t j = 0; j < ncpu; j++) {
            if (j == i || !logical_member[j]) continue;
            uint32_t before = logical_cnt[j];
            send(logical_dest(1ull << j), ICR_LOGICAL | VEC_LOGICAL);
            wait_for(&logical_cnt[j], before + 1, "logical unicast", j);
        }
    }
    end_turn();
    all_turns_done(i);
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0)
        for (uint32_t j = 0; j < ncpu; j++) {
            uint32_t want = logical_member[j] ? 2 * members - 1 : 0;
            if (logical_cnt[j] != want) fail("cpu %u got %u, want %u", j, logical_cnt[j], want);
        }
    char detail[48];
    snprintf(detail, sizeof(detail), " (%u cpus, %s)", members, USE_X2APIC ? "cluster" : "flat");
    end_phase("logical", detail);
}

static void test_nmi(uint32_t i) {
    my_turn(i);
    for (uint32_t j = 0; j < ncpu; j++) {
        send(cpus[j].apic_id, ICR_NMI);
        wait_for(&nmi_cnt[j], i + 1, "nmi", j);
    }
    end_turn();
    all_turns_done(i);
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0) expect(nmi_cnt, ncpu, "nmi");
    end_phase("nmi", "");
}

static void test_tpr(uint32_t i) {
    lapic_write(LAPIC_TPR, 0x60); /* class 6 masked: delivery needs vector class > 6 */
    send(0, ICR_SELF | VEC_TPR);
    delay_us(SETTLE_US);
    if (tpr_cnt[i] != 0) fail("cpu %u: vector 0x%x delivered with TPR 0x60", i, VEC_TPR);
    lapic_write(LAPIC_TPR, 0x50);
    wait_for(&tpr_cnt[i], 1, "tpr after lowering TPR", i);
    lapic_write(LAPIC_TPR, 0);
    delay_us(SETTLE_US);
    barrier_wait(&bar, ncpu);
    if (i == 0) expect(tpr_cnt, 1, "tpr");
    end_phase("tpr", "");
}

static void run_all(struct cpu *c) {
    uint32_t i = c->index;
    sti();
    barrier_wait(&bar, ncpu);
    test_fixed(i);
    test_broadcast(i, 0);
    test_broadcast(i, 1);
    test_self(i);
    test_logical(i);
    test_nmi(i);
    test_tpr(i);
}

static void ap_main(struct cpu *c) {
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) cpu_relax();
    if (c->index < ncpu) run_all(c);
}

int main(void) {
    watchdog_arm(10, EXIT_TIMEOUT, "smp-ipi: TIMEOUT");
    if (USE_X2APIC && !cpu_has_x2apic()) {
        printf("smp-ipi: x2APIC not supported (CPUID.1:ECX bit 21)\nsmp-ipi: FAIL\n");
        return EXIT_TEST_FAIL;
    }
    lapic_init(USE_X2APIC);
    cpus[0].apic_id = lapic_id();
    for (int v = VEC_PAIR_BASE; v < VEC_PAIR_BASE + MAXC; v++) idt_set_handler((uint8_t)v, count_isr);
    idt_set_handler(VEC_BCAST_EXCL, count_isr);
    idt_set_handler(VEC_BCAST_INCL, count_isr);
    idt_set_handler(VEC_SELF, count_isr);
    idt_set_handler(VEC_SELF_MSR, count_isr);
    idt_set_handler(VEC_LOGICAL, count_isr);
    idt_set_handler(VEC_TPR, count_isr);
    idt_set_handler(NMI_VECTOR, nmi_isr);

    uint32_t ids[MAX_CPUS];
    int n = acpi_madt_cpus(ids, MAX_CPUS);
    if (n < 1) n = 1;
    if (n > MAXC) {
        printf("smp-ipi: %d CPUs, testing the first %d\n", n, MAXC);
        n = MAXC;
    }
    printf("smp-ipi: %d CPUs, %s\n", n, USE_X2APIC ? "x2apic" : "xapic");
    if (n > 1) smp_start_aps(ids, n, ap_main, 100000);
    uint32_t online = smp_online();
    if (online != (uint32_t)n) {
        printf("smp-ipi: only %u of %d CPUs started\n", online, n);
        any_failed = 1;
    }
    ncpu = online;
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    run_all(&cpus[0]);
    if (any_failed) {
        printf("smp-ipi: FAIL\n");
        return EXIT_TEST_FAIL;
    }
    printf("smp-ipi: PASS\n");
    return EXIT_PASS;
}
