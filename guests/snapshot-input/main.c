/* snapshot-input: one snapshot, many test cases (issue 22). The boot CPU starts every AP
 * (INIT-SIPI-SIPI from the MADT), each AP enables interrupts and halts, and the boot CPU
 * prints "READY" and writes the snapshot port (`snapshot.h`): the host takes its snapshot at
 * the line (`--snapshot-on`) or at the write. Then it reads a line from COM1 (polled:
 * LSR bit 0, RBR; 16550 datasheet "Line Status Register") and runs the test it names:
 *   exit     writes 0 to the debug-exit port at once (restore-to-exit benchmarks)
 *   ipi [N]  N (default 100) fixed IPIs to every AP, each answered by an IPI back (round
 *            trips), then "ipi <n> round trips" and exit 0, or "ipi: FAIL" and exit 3
 *   mem [K]  checks that the first K KiB (default and at most 64) of a scratch area are still
 *            zero, fills them, prints "mem clean|dirty" and exits 0 or 3: a fork that saw
 *            another's writes fails
 * anything else prints "unknown test <line>" and exits 3. With a kernel command line the
 * boot CPU does not wait for input: right after READY it runs the test the command line
 * names (the same run booted from scratch, for paired benchmarks). */
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "multiboot.h"
#include "smp.h"
#include "snapshot.h"
#include "string.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3
#define PING_VECTOR    0x50
#define PONG_VECTOR    0x51
#define IPIS           100u
/* 16 pages, written a word at a time: enough to show a page shared between forks, and quick
 * where the host emulates guest instructions (kvm_pvm: about a microsecond each). */
#define SCRATCH        (64u << 10)
#define COM1           0x3F8
#define UART_RBR       0        /* receive buffer register (offset 0, DLAB=0) */
#define UART_LSR       5
#define LSR_DR         (1u << 0) /* data ready */

static uint32_t ncpus, bsp_id;
static volatile uint32_t pongs;
static uint64_t scratch[SCRATCH / 8];

static void ping_isr(struct isr_frame *f) {
    (void)f;
    lapic_eoi();
    lapic_send_ipi(bsp_id, ICR_FIXED | PONG_VECTOR);
}

static void pong_isr(struct isr_frame *f) {
    (void)f;
    pongs++;
    lapic_eoi();
}

static void ap_main(struct cpu *c) {
    (void)c;
    for (;;) __asm__ volatile("sti; hlt");
}

static int read_line(char *line, int size) {
    int n = 0;
    for (;;) {
        while (!(inb(COM1 + UART_LSR) & LSR_DR)) cpu_pause();
        char ch = (char)inb(COM1 + UART_RBR);
        if (ch == '\n' || ch == '\r') break;
        if (n < size - 1) line[n++] = ch;
    }
    line[n] = 0;
    return n;
}

/* The number after the test's name ("ipi 5"), or `fallback` when there is none. */
static uint32_t argument(const char *line, uint32_t fallback) {
    while (*line && *line != ' ') line++;
    while (*line == ' ') line++;
    if (*line < '0' || *line > '9') return fallback;
    uint32_t n = 0;
    while (*line >= '0' && *line <= '9' && n < 100000000u) n = n * 10 + (uint32_t)(*line++ - '0');
    return n;
}

static int ipi_test(uint32_t ipis) {
    sti();
    uint32_t sent = 0;
    for (uint32_t i = 0; i < ipis; i++)
        for (uint32_t cpu = 1; cpu < ncpus; cpu++) {
            uint32_t before = pongs;
            lapic_send_ipi(cpus[cpu].apic_id, ICR_FIXED | PING_VECTOR);
            sent++;
            uint64_t end = rdtsc() + tsc_from_us(1000000);
            while (pongs == before && rdtsc() < end) cpu_pause();
        }
    if (pongs != sent) {
        printf("ipi: FAIL %u of %u round trips\n", pongs, sent);
        return EXIT_TEST_FAIL;
    }
    printf("ipi %u round trips\n", pongs);
    return EXIT_PASS;
}

static int mem_test(uint32_t kib) {
    uint32_t words = (kib < SCRATCH >> 10 ? kib : SCRATCH >> 10) * 1024 / 8;
    int clean = 1;
    for (uint32_t i = 0; i < words; i++) clean &= scratch[i] == 0;
    uint64_t mark = rdtsc() | 1;
    for (uint32_t i = 0; i < words; i++) scratch[i] = mark;
    printf("mem %s\n", clean ? "clean" : "dirty");
    return clean ? EXIT_PASS : EXIT_TEST_FAIL;
}

int main(void) {
    lapic_init(0);
    bsp_id = lapic_id();
    idt_set_handler(PING_VECTOR, ping_isr);
    idt_set_handler(PONG_VECTOR, pong_isr);
    uint32_t ids[MAX_CPUS];
    int n = smp_madt_cpus(ids);
    if (n > 1) smp_start_aps(ids, n, ap_main, 100000);
    ncpus = smp_online();
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *cmdline = (info->flags & MB1_INFO_CMDLINE) ? (const char *)(uintptr_t)info->cmdline : "";
    printf("READY\n");
    snapshot_here();
    char line[64];
    if (cmdline[0]) {
        size_t n = strnlen(cmdline, sizeof(line) - 1);
        memcpy(line, cmdline, n);
        line[n] = 0;
    } else {
        read_line(line, sizeof(line));
    }
    if (strcmp(line, "exit") == 0) return EXIT_PASS;
    if (strncmp(line, "ipi", 3) == 0 && (line[3] == 0 || line[3] == ' ')) return ipi_test(argument(line, IPIS));
    if (strncmp(line, "mem", 3) == 0 && (line[3] == 0 || line[3] == ' ')) return mem_test(argument(line, SCRATCH >> 10));
    printf("unknown test %s\n", line);
    return EXIT_TEST_FAIL;
}
