/* snapshot-timers: timers armed before a snapshot fire exactly once after it, in the order
 * of their deadlines, on the CPUs that armed them; machines forked from one snapshot do not
 * see each other's memory writes (issue 22).
 *
 * The boot CPU starts the APs (INIT-SIPI-SIPI from the MADT), calibrates the local APIC
 * timer against the TSC, and takes t0 = rdtsc(). Timer k (k = 0..n-1, one per CPU; k = n is
 * the HPET) is due at t0 + BASE_MS + STEP_MS * k, the HPET's halfway between CPU 0's and
 * CPU 1's (BASE_MS + STEP_MS / 2):
 *   even CPUs  TSC-deadline mode (SDM Vol. 3A §11.5.4.1)
 *   odd CPUs   one-shot, divide by 1 (§11.5.4), initial count from the calibration
 *   HPET       timer 2, one-shot, edge, through the I/O APIC to the boot CPU (HPET 1.0a §2.3.9)
 * Every AP arms its timer and then halts; when all are armed the boot CPU prints "READY" and
 * writes the snapshot port (`snapshot.h`): the host takes its snapshot at the line or at the
 * write, long before the first deadline. Each handler counts
 * its timer and appends it to the order. When all n + 1 have fired, and SETTLE_MS after
 * (room for a wrong second interrupt), the boot CPU checks that a scratch area of SCRATCH
 * bytes is still all zero, fills it with a value of this run, increments `runs`, and prints
 *   order <k> <k> ... ok|differs
 *   fired <count per timer> runs=<runs> scratch=clean|dirty
 *   snapshot-timers: PASS (v=0) | FAIL (v=3) | TIMEOUT (v=4, WATCHDOG_S watchdog)
 * A fork of a snapshot taken at READY must print runs=1 and scratch=clean: an earlier
 * fork's writes would show. PASS needs every timer fired once, runs=1 and a clean scratch
 * area; the order is printed, not judged: neighbouring deadlines are 10 ms apart, and a host
 * running more vCPUs than it has CPUs may run a vCPU later than that (the tests judge the
 * order where the host is not oversubscribed by their own doing). */
#include "acpi.h"
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "smp.h"
#include "snapshot.h"
#include "tsc.h"
#include "../pic-pit/legacy_hw.h"

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4

#define BASE_MS      200u
#define STEP_MS      20u
#define SETTLE_MS    50u
#define CPU_VECTOR   0x40
#define HPET_VECTOR  0x41
#define HPET_TIMER   2
#define DIVIDE_BY_1  0xBu   /* divide configuration register 1011b (SDM Vol. 3A §11.5.4) */
/* 16 pages, written a word at a time: enough to show a page shared between forks, and quick
 * where the host emulates guest instructions (kvm_pvm: about a microsecond each). */
#define SCRATCH      (64u << 10)
/* The TSC watchdog counts from boot, and on a host that cannot set a restored guest's TSC
 * the time between the snapshot and a fork counts too: an hour, so that forks made long after
 * the snapshot still run (the host's own time limit catches a hung guest first). */
#define WATCHDOG_S   3600u

static uint64_t t0, lapic_per_ms, hpet;
static uint32_t ncpus;
static volatile uint32_t fired[MAX_CPUS + 1], order[2 * (MAX_CPUS + 1)], sequence, armed;
static volatile uint32_t go, runs;
static uint64_t scratch[SCRATCH / 8];

static void record(uint32_t timer) {
    fired[timer]++;
    uint32_t slot = __atomic_fetch_add(&sequence, 1, __ATOMIC_ACQ_REL);
    if (slot < sizeof(order) / sizeof(order[0])) order[slot] = timer;
}

static void cpu_timer_isr(struct isr_frame *f) {
    (void)f;
    record(this_cpu()->index);
    lapic_eoi();
}

static void hpet_isr(struct isr_frame *f) {
    (void)f;
    record(ncpus);
    lapic_eoi();
}

static uint64_t due_ms(uint32_t timer) {
    return timer == ncpus ? BASE_MS + STEP_MS / 2 : BASE_MS + STEP_MS * timer;
}

static void arm_cpu_timer(struct cpu *c) {
    uint64_t deadline = t0 + tsc_from_us(due_ms(c->index) * 1000);
    if (c->index % 2 == 0) {
        /* TSC-deadline: the LVT's mode first, or the MSR write is ignored (§11.5.4.1). */
        lapic_write(LAPIC_LVT_TIMER, CPU_VECTOR | LVT_TIMER_DEADLINE);
        mem_barrier();
        wrmsr(MSR_IA32_TSC_DEADLINE, deadline);
    } else {
        uint64_t now = rdtsc();
        uint64_t left_us = deadline > now ? (deadline - now) * 1000000 / tsc_hz() : 1;
        lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
        lapic_write(LAPIC_LVT_TIMER, CPU_VECTOR | LVT_TIMER_ONESHOT);
        lapic_write(LAPIC_TIMER_INITIAL, (uint32_t)(left_us * lapic_per_ms / 1000));
    }
    __atomic_add_fetch(&armed, 1, __ATOMIC_ACQ_REL);
}

static void ap_main(struct cpu *c) {
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE)) cpu_relax();
    arm_cpu_timer(c);
    for (;;) __asm__ volatile("sti; hlt");
}

/* Local APIC timer counts per millisecond at divide by 1, against the TSC: each reading pairs
 * the current count with the TSC, so a vCPU descheduled between the two windows' ends does not
 * skew it; the median of three. */
static uint64_t calibrate_lapic(void) {
    uint64_t rate[3];
    lapic_write(LAPIC_TIMER_DIVIDE, DIVIDE_BY_1);
    lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | CPU_VECTOR);
    for (int i = 0; i < 3; i++) {
        lapic_write(LAPIC_TIMER_INITIAL, 0xFFFFFFFFu);
        uint32_t c1 = lapic_read(LAPIC_TIMER_CURRENT);
        uint64_t t1 = rdtsc();
        delay_us(5000);
        uint32_t c2 = lapic_read(LAPIC_TIMER_CURRENT);
        uint64_t t2 = rdtsc();
        rate[i] = (uint64_t)(c1 - c2) * (tsc_hz() / 1000) / (t2 - t1);
    }
    lapic_write(LAPIC_TIMER_INITIAL, 0);
    uint64_t lo = rate[0] < rate[1] ? rate[0] : rate[1], hi = rate[0] < rate[1] ? rate[1] : rate[0];
    return rate[2] < lo ? lo : rate[2] > hi ? hi : rate[2];
}

/* HPET timer 2 on the highest I/O APIC input its Tn_INT_ROUTE_CAP allows (below 24), one-shot at
 * `ms` from now; 0 when there is none. */
static int arm_hpet(uint64_t ms) {
    int from_acpi;
    hpet = hpet_base_from_acpi(&from_acpi);
    uint64_t cap = hpet_r64(hpet, HPET_GCAP_ID);
    uint32_t period_fs = (uint32_t)(cap >> 32);
    if ((uint32_t)cap == 0xFFFFFFFFu || period_fs == 0 || ((cap >> 8) & 0x1F) < HPET_TIMER) return 0;
    uint64_t ioapic = madt_ioapic_base();
    uint32_t pins = ioapic_pins(ioapic);
    uint32_t route_cap = (uint32_t)(hpet_r64(hpet, HPET_TN_CONF(HPET_TIMER)) >> 32);
    int pin = -1;
    for (int p = (int)(pins < 24 ? pins : 24) - 1; p >= 16 && pin < 0; p--)
        if (route_cap & (1u << p)) pin = p;
    if (pin < 0) return 0;
    idt_set_handler(HPET_VECTOR, hpet_isr);
    ioapic_set_entry(ioapic, (uint32_t)pin, HPET_VECTOR, (uint8_t)lapic_id()); /* edge, high */
    hpet_w32(hpet, HPET_GEN_CONF, 0);
    hpet_w32(hpet, HPET_TN_CONF(HPET_TIMER), (uint32_t)pin << HPET_TN_ROUTE_SHIFT);
    hpet_w32(hpet, HPET_GEN_CONF, HPET_CONF_ENABLE);
    uint64_t ticks_left = (t0 + tsc_from_us(ms * 1000) - rdtsc()) * 1000000000ull / tsc_hz() * 1000000ull / period_fs;
    hpet_w64(hpet, HPET_TN_CMP(HPET_TIMER), hpet_r64(hpet, HPET_MAIN_CNT) + ticks_left);
    hpet_w32(hpet, HPET_TN_CONF(HPET_TIMER), ((uint32_t)pin << HPET_TN_ROUTE_SHIFT) | HPET_TN_INT_ENB);
    return 1;
}

static int expected_order(uint32_t *want) {
    int n = 0;
    for (uint32_t k = 0; k <= ncpus; k++) want[n++] = k;
    for (int i = 1; i < n; i++)   /* insertion sort by deadline */
        for (int j = i; j > 0 && due_ms(want[j - 1]) > due_ms(want[j]); j--) {
            uint32_t x = want[j]; want[j] = want[j - 1]; want[j - 1] = x;
        }
    return n;
}

int main(void) {
    watchdog_arm(WATCHDOG_S, EXIT_TIMEOUT, "snapshot-timers: TIMEOUT");
    lapic_init(0);
    if (!cpu_has_tsc_deadline()) {
        printf("snapshot-timers: FAIL no TSC-deadline timer (CPUID.1:ECX bit 24)\n");
        return EXIT_TEST_FAIL;
    }
    idt_set_handler(CPU_VECTOR, cpu_timer_isr);
    uint32_t ids[MAX_CPUS];
    int n = smp_madt_cpus(ids);
    if (n > 1) smp_start_aps(ids, n, ap_main, 100000);
    ncpus = smp_online();
    lapic_per_ms = calibrate_lapic();
    printf("snapshot-timers: %u CPUs, tsc %lu Hz, lapic %lu/ms\n", ncpus, tsc_hz(), lapic_per_ms);

    cli();
    t0 = rdtsc();
    if (!arm_hpet(due_ms(ncpus))) {
        printf("snapshot-timers: FAIL no HPET timer %d routable to an I/O APIC input from 16\n", HPET_TIMER);
        return EXIT_TEST_FAIL;
    }
    __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
    arm_cpu_timer(&cpus[0]);
    while (__atomic_load_n(&armed, __ATOMIC_ACQUIRE) < ncpus) cpu_relax();
    printf("READY\n");
    snapshot_here();
    sti();
    while (__atomic_load_n(&sequence, __ATOMIC_ACQUIRE) < ncpus + 1) cpu_relax();
    delay_us(SETTLE_MS * 1000);

    int clean = 1;
    for (uint32_t i = 0; i < SCRATCH / 8; i++) clean &= scratch[i] == 0;
    uint64_t mark = rdtsc() | 1;
    for (uint32_t i = 0; i < SCRATCH / 8; i++) scratch[i] = mark;
    runs++;

    uint32_t want[MAX_CPUS + 1];
    int total = expected_order(want), failed = !clean || runs != 1 || sequence != (uint32_t)total, in_order = 1;
    printf("order");
    for (int i = 0; i < total; i++) {
        printf(" %u", order[i]);
        in_order &= order[i] == want[i];
    }
    printf(" %s\nfired", in_order ? "ok" : "differs");
    for (int k = 0; k < total; k++) {
        printf(" %u", fired[k]);
        failed |= fired[k] != 1;
    }
    printf(" runs=%u scratch=%s\n", runs, clean ? "clean" : "dirty");
    if (failed) {
        printf("snapshot-timers: FAIL\n");
        return EXIT_TEST_FAIL;
    }
    printf("snapshot-timers: PASS\n");
    return EXIT_PASS;
}
