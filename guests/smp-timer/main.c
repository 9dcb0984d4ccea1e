/* smp-timer: local APIC timer test on every CPU (SDM Vol. 3A §11.5.4 "APIC Timer").
 * The boot CPU starts the APs from the MADT with INIT-SIPI-SIPI; then every CPU runs, in
 * order, K interrupts each of:
 *   oneshot   one-shot, divide by 1, initial count re-armed in the handler
 *   periodic  periodic, stopped after K by writing initial count 0 (K or K+1 allowed)
 *   deadline  TSC-deadline mode (§11.5.4.1), re-armed at rdtsc()+DEADLINE_DELTA; every
 *             interrupt must arrive at rdtsc() >= the programmed deadline
 *   short     one-shot with initial count 1..16
 *   past      TSC-deadline already in the past (alternately now-1000 and 1): fires at once
 * Counts must be exact. Each CPU prints (in CPU order)
 *   cpu <apic id> oneshot=<n> periodic=<n> deadline=<n> short=<n> past=<n> ok|FAIL
 *   cpu <apic id> latency p50=<n> p99=<n> max=<n>        (deadline -> handler, TSC cycles)
 *   cpu <apic id> past-latency p50=<n> p99=<n> max=<n>   (past deadline write -> handler)
 * then the boot CPU prints "smp-timer: PASS" (v=0) or "smp-timer: FAIL" (v=3). A global
 * WATCHDOG_S TSC watchdog (50 s; config.h may change it) prints "smp-timer: TIMEOUT" (v=4).
 * x2APIC or xAPIC mode, and K, come from the guest folder's config.h. */
#include <config.h> /* angle brackets: the -I folders only, so the -x2apic variant gets its own */
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "smp.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4

/* config.h may set K (interrupts per mode per CPU), TEST_WAIT_US and WATCHDOG_S. */
#ifndef K
#define K               50
#endif
#ifndef TEST_WAIT_US
#define TEST_WAIT_US    COUNT_WAIT_US
#endif
#ifndef WATCHDOG_S
#define WATCHDOG_S      TIMER_WATCHDOG_S
#endif
#define TIMER_VECTOR    0x40
#define ONESHOT_COUNT   100000u
#define PERIODIC_COUNT  100000u
#define DEADLINE_DELTA  200000u /* TSC cycles */
#define PAST_DELTA      1000u
#define DIVIDE_BY_1     0xBu    /* divide configuration register 1011b (SDM Vol. 3A §11.5.4) */
#define SETTLE_US       5000u   /* after the K-th interrupt: room for a wrong extra one */

enum mode { M_NONE, M_ONESHOT, M_PERIODIC, M_DEADLINE, M_SHORT, M_PAST, M_COUNT };

struct timer_state {
    volatile uint32_t mode;
    volatile uint32_t count;    /* interrupts in the current test */
    volatile uint64_t deadline; /* TSC deadline last programmed */
    volatile uint64_t written;  /* rdtsc() when it was programmed */
    uint64_t stamp;             /* oneshot: arm time, then the last interrupt's rdtsc() */
    uint32_t disorder;          /* oneshot: interrupts not after the previous one */
    uint32_t latency[K];        /* TSC cycles, clamped to 2^32 - 1 */
    uint64_t lat[2][3];         /* deadline, past: p50, p99, max */
    uint32_t early;             /* deadline interrupts before their deadline */
    uint32_t stray;             /* interrupts with no test running */
    uint32_t result[M_COUNT];
    int failed;
    char reason[96];
} __attribute__((aligned(64)));

static struct timer_state state[MAX_CPUS];
static int tsc_deadline_ok;
static volatile uint32_t go, participants, finished, print_turn;
static volatile int any_failed;

static void timer_isr(struct isr_frame *frame) {
    (void)frame;
    uint64_t now = rdtsc();
    struct timer_state *t = &state[this_cpu()->index];
    uint32_t n = ++t->count;
    switch (t->mode) {
    case M_ONESHOT:
        if (n <= K) {
            if (now <= t->stamp) t->disorder++;
            t->stamp = now;
        }
        if (n < K) lapic_write(LAPIC_TIMER_INITIAL, ONESHOT_COUNT);
        break;
    case M_PERIODIC:
        if (n >= K) lapic_write(LAPIC_TIMER_INITIAL, 0);
        break;
    case M_DEADLINE:
    case M_PAST:
        if (n <= K) {
            if (now < t->deadline) t->early++;
            uint64_t from = t->mode == M_DEADLINE ? t->deadline : t->written;
            uint64_t late = now >= from ? now - from : 0;
            t->latency[n - 1] = late > UINT32_MAX ? UINT32_MAX : (uint32_t)late;
        }
        if (n < K) {
            t->written = rdtsc();
            if (t->mode == M_DEADLINE)
                t->deadline = t->written + DEADLINE_DELTA;
            else /* 0 would disarm the timer (§11.5.4.1), so the oldest deadline is 1 */
                t->deadline = (n & 1) ? 1 : t->written - PAST_DELTA;
            wrmsr(MSR_IA32_TSC_DEADLINE, t->deadline);
        }
        break;
    case M_SHORT:
        if (n < K) lapic_write(LAPIC_TIMER_INITIAL, (n % 16) + 1);
        break;
    default:
        t->stray++;
        break;
    }
    lapic_eoi();
}

static void note_failure(struct timer_state *t, const char *what, uint32_t got) {
    if (!t->failed) snprintf(t->reason, sizeof(t->reason), "%s: %u interrupts", what, got);
    t->failed = 1;
}

/* Runs one test on this CPU; returns the interrupt count. */
static uint32_t run_test(struct timer_state *t, enum mode m) {
    cli();
    t->count = 0;
    t->early = 0;
    t->mode = m;
    mem_barrier();
    switch (m) {
    case M_ONESHOT:
        lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
        lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_ONESHOT);
        t->disorder = 0;
        t->stamp = rdtsc();
        lapic_write(LAPIC_TIMER_INITIAL, ONESHOT_COUNT);
        break;
    case M_PERIODIC:
        lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
        lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_PERIODIC);
        lapic_write(LAPIC_TIMER_INITIAL, PERIODIC_COUNT);
        break;
    case M_DEADLINE:
    case M_PAST:
        /* Switch the LVT to TSC-deadline mode before writing the MSR: in other modes the
         * write is ignored (§11.5.4.1). The locked op orders the two writes. */
        lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_DEADLINE);
        mem_barrier();
        t->written = rdtsc();
        t->deadline = m == M_DEADLINE ? t->written + DEADLINE_DELTA : t->written - PAST_DELTA;
        wrmsr(MSR_IA32_TSC_DEADLINE, t->deadline);
        break;
    case M_SHORT:
        lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
        lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR | LVT_TIMER_ONESHOT);
        lapic_write(LAPIC_TIMER_INITIAL, 1);
        break;
    default:
        break;
    }
    sti();
    uint64_t end = rdtsc() + tsc_from_us(TEST_WAIT_US);
    while (t->count < K && rdtsc() < end) cpu_relax();
    delay_us(SETTLE_US);
    cli();
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | TIMER_VECTOR);
    lapic_write(LAPIC_TIMER_INITIAL, 0);
    if (tsc_deadline_ok) wrmsr(MSR_IA32_TSC_DEADLINE, 0);
    uint32_t n = t->count;
    t->mode = M_NONE;
    t->result[m] = n;
    sti();
    return n;
}

/* Shell sort (Ciura's gaps): K may be 10000, too many for insertion sort. */
static void sort(uint32_t *v, int n) {
    static const int gaps[] = { 1750, 701, 301, 132, 57, 23, 10, 4, 1 };
    for (unsigned g = 0; g < sizeof(gaps) / sizeof(gaps[0]); g++)
        for (int i = gaps[g]; i < n; i++) {
            uint32_t x = v[i];
            int j = i;
            for (; j >= gaps[g] && v[j - gaps[g]] > x; j -= gaps[g]) v[j] = v[j - gaps[g]];
            v[j] = x;
        }
}

/* p50, p99 and max of the latencies just measured (sorted in place). */
static void summarise_latency(struct timer_state *t, uint64_t *out) {
    sort(t->latency, K);
    int p99 = (K * 99 + 99) / 100 - 1;
    out[0] = t->latency[K / 2];
    out[1] = t->latency[p99];
    out[2] = t->latency[K - 1];
}

static void print_latency(uint32_t id, const char *label, const uint64_t *lat) {
    printf("cpu %u %s p50=%lu p99=%lu max=%lu\n", id, label, lat[0], lat[1], lat[2]);
}

static void run_all(struct cpu *c) {
    struct timer_state *t = &state[c->index];
    uint32_t n;

    if ((n = run_test(t, M_ONESHOT)) != K) note_failure(t, "oneshot", n);
    if (n == K && t->disorder && !t->failed) {
        snprintf(t->reason, sizeof(t->reason), "oneshot: %u interrupts not after the one before", t->disorder);
        t->failed = 1;
    }
    n = run_test(t, M_PERIODIC);
    if (n != K && n != K + 1) note_failure(t, "periodic", n);
    if (tsc_deadline_ok) {
        if ((n = run_test(t, M_DEADLINE)) != K) note_failure(t, "deadline", n);
        if (t->early) {
            if (!t->failed) snprintf(t->reason, sizeof(t->reason), "deadline: %u interrupts before the deadline", t->early);
            t->failed = 1;
        }
        summarise_latency(t, t->lat[0]);
    }
    if ((n = run_test(t, M_SHORT)) != K) note_failure(t, "short", n);
    if (tsc_deadline_ok) {
        if ((n = run_test(t, M_PAST)) != K) note_failure(t, "past", n);
        summarise_latency(t, t->lat[1]);
    }
    if (t->stray) {
        if (!t->failed) snprintf(t->reason, sizeof(t->reason), "%u interrupts after a test ended", t->stray);
        t->failed = 1;
    }

    /* Print in CPU order so the output is the same on every run. */
    while (__atomic_load_n(&print_turn, __ATOMIC_ACQUIRE) != c->index) cpu_relax();
    char dl[16], past[16];
    if (tsc_deadline_ok) {
        snprintf(dl, sizeof(dl), "%u", t->result[M_DEADLINE]);
        snprintf(past, sizeof(past), "%u", t->result[M_PAST]);
    } else {
        snprintf(dl, sizeof(dl), "skip");
        snprintf(past, sizeof(past), "skip");
    }
    printf("cpu %u oneshot=%u periodic=%u deadline=%s short=%u past=%s %s\n", c->apic_id,
           t->result[M_ONESHOT], t->result[M_PERIODIC], dl, t->result[M_SHORT], past,
           t->failed ? "FAIL" : "ok");
    if (t->failed) printf("cpu %u reason: %s\n", c->apic_id, t->reason);
    if (tsc_deadline_ok) {
        print_latency(c->apic_id, "latency", t->lat[0]);
        print_latency(c->apic_id, "past-latency", t->lat[1]);
    }
    if (t->failed) any_failed = 1;
    __atomic_add_fetch(&print_turn, 1, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&finished, 1, __ATOMIC_ACQ_REL);
}

static void ap_main(struct cpu *c) {
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) cpu_relax();
    if (c->index < participants) run_all(c);
}

int main(void) {
    watchdog_arm(WATCHDOG_S, EXIT_TIMEOUT, "smp-timer: TIMEOUT");
    if (USE_X2APIC && !cpu_has_x2apic()) {
        printf("smp-timer: x2APIC not supported (CPUID.1:ECX bit 21)\nsmp-timer: FAIL\n");
        return EXIT_TEST_FAIL;
    }
    lapic_init(USE_X2APIC);
    tsc_deadline_ok = cpu_has_tsc_deadline();
    idt_set_handler(TIMER_VECTOR, timer_isr);

    uint32_t ids[MAX_CPUS];
    int n = smp_madt_cpus(ids);
    printf("smp-timer: %d CPUs, %s, tsc-deadline=%s, tsc %lu Hz (%s)\n", n,
           USE_X2APIC ? "x2apic" : "xapic", tsc_deadline_ok ? "yes" : "no", tsc_hz(), tsc_hz_source());
    if (n > 1) smp_start_aps(ids, n, ap_main, 100000);
    uint32_t online = smp_online();
    if (online != (uint32_t)n) {
        printf("smp-timer: only %u of %d CPUs started\n", online, n);
        any_failed = 1;
    }
    participants = online;
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    run_all(&cpus[0]);
    while (__atomic_load_n(&finished, __ATOMIC_ACQUIRE) < online) cpu_relax();
    if (any_failed) {
        printf("smp-timer: FAIL\n");
        return EXIT_TEST_FAIL;
    }
    printf("smp-timer: PASS\n");
    return EXIT_PASS;
}
