#include "host_delay.h"
#include "io.h"

uint64_t port_exit_tsc(void) {
    uint64_t best = ~0ull;
    for (int i = 0; i < 32; i++) {
        uint64_t t0 = rdtsc();
        (void)inb(0x80);
        uint64_t t1 = rdtsc();
        if (t1 - t0 < best) best = t1 - t0;
    }
    return best;
}

static volatile uint64_t limit, last_turn, longest;
static volatile uint32_t count;
static volatile int seen;

void host_delay_start(uint64_t limit_tsc) {
    limit = limit_tsc;
    longest = 0;
    count = 0;
    seen = 0;
    last_turn = rdtsc();
}

static void turn(uint64_t now) {
    uint64_t stretch = now - last_turn;
    if (stretch > limit) {
        seen = 1;
        count++;
        if (stretch > longest) longest = stretch;
    }
    last_turn = now;
}

void host_delay_poll(void) { turn(rdtsc()); }

int host_delay_mark(void) {
    turn(rdtsc());
    int was = seen;
    seen = 0;
    return was;
}

uint32_t host_delay_count(void) { return count; }
uint64_t host_delay_longest(void) { return longest; }

/* stamp[i] - i * expected, relative to stamp[1], as a signed offset. */
static int64_t offset(const uint64_t *stamp, uint32_t i, uint64_t expected) {
    return (int64_t)(stamp[i] - stamp[1]) - (int64_t)((i - 1) * expected);
}

/* The least-late settled stamp in [from, to] (from >= 2); 0 if none. Settled: no host delay
 * since the previous tick, and at least half a period after it. A tick that came sooner
 * was owed (a VMM catching up sends each as soon as the last is acknowledged) or pulled
 * in behind a late one, so it is late itself. */
static uint32_t anchor(const uint64_t *stamp, const uint8_t *delayed, uint32_t from, uint32_t to,
                       uint64_t expected) {
    uint32_t best = 0;
    for (uint32_t i = from; i <= to; i++) {
        if (delayed[i] || stamp[i] - stamp[i - 1] < expected / 2) continue;
        if (!best || offset(stamp, i, expected) < offset(stamp, best, expected)) best = i;
    }
    return best;
}

struct tick_fit tick_fit(const uint64_t *stamp, const uint8_t *delayed, uint32_t n, uint64_t expected) {
    struct tick_fit f = { 0, 0, 0, 0, ~0ull, 0, 0, 0 };
    for (uint32_t i = 2; i <= n; i++) {
        uint64_t d = stamp[i] - stamp[i - 1];
        if (d < f.shortest) f.shortest = d;
        if (d > f.longest) f.longest = d;
        if (d < expected / 2) f.bunched++;
        if (2 * d > 3 * expected) f.missed += (uint32_t)((d + expected / 2) / expected - 1);
    }
    if (n < 2) f.shortest = 0;
    uint32_t q = n / 4;
    if (q == 0) return f;
    f.first = anchor(stamp, delayed, 2, q + 1, expected);
    f.last = anchor(stamp, delayed, n - q + 1, n, expected);
    if (!f.first || !f.last) {
        f.first = f.last = 0;
        return f;
    }
    f.period = (stamp[f.last] - stamp[f.first]) / (f.last - f.first);
    for (uint32_t i = 1; i <= n; i++) {
        int64_t above = (int64_t)(stamp[i] - stamp[f.first]) - ((int64_t)i - (int64_t)f.first) * (int64_t)f.period;
        if (above > (int64_t)f.latest) f.latest = (uint64_t)above;
    }
    return f;
}

int late_ticks_explain(struct tick_fit f) { return f.missed > 0; }

