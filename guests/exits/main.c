/* exits: N port writes to an unused port, for exit-cost benchmarks (bench/compare.sh).
 * The command line is N in decimal (default 10000; 0 is allowed, so a run with 0 exits
 * gives the fixed cost). Each `outb` to EXIT_PORT leaves the guest (KVM_EXIT_IO) and
 * the VMM drops the write; 0x9C has no device in SwiftVMM, QEMU or bench/floor.c.
 * Prints `exits: n=<N> cycles_per_exit=<TSC cycles per outb round trip>` (after 100
 * warm-up exits) and exits with v=0. */
#include "guest.h"
#include "multiboot.h"

#define EXIT_PORT  0x9C
#define DEFAULT_N  10000u
#define WARMUP     100u

/* N from the multiboot 1 command line (flags bit 2, Multiboot 0.6.96 §3.3). */
static uint64_t exits_wanted(void) {
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    if (boot_magic != MB1_BOOT_MAGIC || !(info->flags & MB1_INFO_CMDLINE)) return DEFAULT_N;
    const char *s = (const char *)(uintptr_t)info->cmdline;
    if (*s < '0' || *s > '9') return DEFAULT_N;
    uint64_t n = 0;
    for (; *s >= '0' && *s <= '9'; s++) n = n * 10 + (uint64_t)(*s - '0');
    return n;
}

int main(void) {
    uint64_t n = exits_wanted();
    for (unsigned i = 0; i < WARMUP; i++) outb(EXIT_PORT, 0);
    uint64_t start = rdtsc();
    for (uint64_t i = 0; i < n; i++) outb(EXIT_PORT, (uint8_t)i);
    uint64_t cycles = rdtsc() - start;
    printf("exits: n=%lu cycles_per_exit=%lu\n", n, n ? cycles / n : 0);
    return EXIT_PASS;
}
