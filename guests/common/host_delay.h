/* Telling the host's delays apart from the VMM's. A vCPU is a host thread: when the host
 * is busy it stops running for a while, and every interrupt that falls due meanwhile is
 * seen late by the guest, through no fault of the VMM. Guests that judge timer interrupt
 * rates therefore watch their own timeline: a wait loop calls host_delay_poll() each turn,
 * and a stretch between two turns longer than the limit (far more than a turn plus an
 * interrupt handler's exits) means the vCPU was not running. Interrupt stamps taken while
 * the loop ran without such a stretch carry only the VMM's delivery latency, so rates are
 * judged over those intervals only (tick_rate below); the rest are counted and printed.
 *
 * Single-CPU use: the wait loop and the interrupt handlers run on one CPU. */
#ifndef GUEST_HOST_DELAY_H
#define GUEST_HOST_DELAY_H

#include <stdint.h>

/* The cheapest round trip through the VMM: the minimum over 32 reads of port 0x80, each
 * bracketed by TSC reads. The minimum is the exit cost without host preemption. */
uint64_t port_exit_tsc(void);

/* Starts watching: a stretch longer than limit_tsc between two polls is a host delay. */
void host_delay_start(uint64_t limit_tsc);
/* One turn of a wait loop. */
void host_delay_poll(void);
/* From an interrupt handler: whether a host delay was seen since the previous mark (the
 * stretch since the last poll included); then starts the next span. */
int host_delay_mark(void);
/* Host delays seen since host_delay_start, and the longest, in TSC cycles. */
uint32_t host_delay_count(void);
uint64_t host_delay_longest(void);

/* The period of a series of n periodic interrupt stamps stamp[1..n] (index 0 unused), judged
 * from the ticks that came on time. Host delays (of the vCPU or of the VMM's timer thread)
 * only ever make a tick late, and a VMM that delivers missed ticks afterwards keeps the
 * count, so on-time ticks lie on a line stamp[i] = t0 + i * period + (delivery latency), and
 * late ones above it. The line's two anchors are the least-late stamps (smallest
 * stamp[i] - i * expected) in the first and in the last quarter of the series, at least
 * n / 2 periods apart. Anchors are settled ticks: not delayed[i] (host_delay_mark() was
 * false: the vCPU was not kept away since the last tick) and at least half a period after
 * the last tick (a VMM catching up sends owed ticks back to back). A tick that was lost, merged or delivered early moves
 * the last quarter's anchor by a whole period against the first's, 1 / n of the span or
 * more: a 1 % check catches it for n <= 100. */
struct tick_fit {
    uint32_t first, last;      /* anchor ticks; 0 if a quarter had no stamp to anchor on */
    uint64_t period;           /* (stamp[last] - stamp[first]) / (last - first), TSC cycles */
    uint64_t latest;           /* the most any tick lay above the line, TSC cycles */
    uint64_t shortest, longest;/* among all intervals, for the record */
    uint32_t missed;           /* periods missing from long intervals: sum of round(d / period) - 1 over d > 1.5 periods */
    uint32_t bunched;          /* intervals under half a period (ticks owed, sent back to back) */
};

/* Whether late ticks can explain a rate check that failed: some interval was over 1.5
 * periods, so ticks came late, and a backlog (or its catch-up) may have filled a whole
 * quarter. A VMM that runs at the wrong rate on a quiet host shows no such interval and
 * fails. What this cannot tell from a backlog: a VMM that loses or adds ticks only in runs
 * where the host also made ticks late (a count over a longer window can). */
int late_ticks_explain(struct tick_fit f);

struct tick_fit tick_fit(const uint64_t *stamp, const uint8_t *delayed, uint32_t n, uint64_t expected);

#endif
