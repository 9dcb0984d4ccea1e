/* snapshot-input: one snapshot, many test cases (issue 22). The boot CPU starts every AP
 * (INIT-SIPI-SIPI from the MADT), each AP enables interrupts and halts, and the boot CPU
 * prints "READY" (where the host takes its snapshot). Then it reads lines from COM1 (polled:
 * LSR bit 0, RBR; 16550 datasheet "Line Status Register") and runs the test each names:
 *   exit    writes 0 to the debug-exit port at once (restore-to-exit benchmarks)
 *   ipi     IPIS fixed IPIs to every AP, each answered by an IPI back (round trips), then
 *           "ipi <n> round trips" and exit 0, or "ipi: FAIL" and exit 3
 *   mem     checks that a 1 MiB scratch area is still zero, fills it, prints
 *           "mem clean|dirty" and exits 0 or 3: a fork that saw another's writes fails
 * anything else prints "unknown test <line>" and exits 3. With the kernel command line
 * "exit" the boot CPU does not wait for input: it exits as `exit` does right after READY
 * (the same run booted from scratch, for a paired benchmark). */
#include "acpi.h"
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "multiboot.h"
#include "smp.h"
#include "string.h"
#include "tsc.h"

#define EXIT_TEST_FAIL 3
#define PING_VECTOR    0x50
#define PONG_VECTOR    0x51
#define IPIS           100u
#define SCRATCH        (1u << 20)
#define COM1           0x3F8
#define UART_RBR       0        /* receive buffer register (offset 0, DLAB=0) */
#define UART_LSR       5
#define LSR_DR         (1u << 0) /* data ready */

static uint32_t ncpus, bsp_id;
static volatile uint32_t pongs;
static uint8_t scratch[SCRATCH];

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

static int ipi_test(void) {
    sti();
    uint32_t sent = 0;
    for (uint32_t i = 0; i < IPIS; i++)
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

static int mem_test(void) {
    int clean = 1;
    for (uint32_t i = 0; i < SCRATCH; i++) clean &= scratch[i] == 0;
    uint8_t mark = (uint8_t)(rdtsc() | 1);
    for (uint32_t i = 0; i < SCRATCH; i++) scratch[i] = mark;
    printf("mem %s\n", clean ? "clean" : "dirty");
    return clean ? EXIT_PASS : EXIT_TEST_FAIL;
}

int main(void) {
    lapic_init(0);
    bsp_id = lapic_id();
    idt_set_handler(PING_VECTOR, ping_isr);
    idt_set_handler(PONG_VECTOR, pong_isr);
    uint32_t ids[MAX_CPUS];
    int n = acpi_madt_cpus(ids, MAX_CPUS);
    if (n < 1) n = 1;
    if (n > MAX_CPUS) n = MAX_CPUS;
    if (n > 1) smp_start_aps(ids, n, ap_main, 100000);
    ncpus = smp_online();
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *cmdline = (info->flags & MB1_INFO_CMDLINE) ? (const char *)(uintptr_t)info->cmdline : "";
    printf("READY\n");
    if (strcmp(cmdline, "exit") == 0) return EXIT_PASS;
    char line[64];
    read_line(line, sizeof(line));
    if (strcmp(line, "exit") == 0) return EXIT_PASS;
    if (strcmp(line, "ipi") == 0) return ipi_test();
    if (strcmp(line, "mem") == 0) return mem_test();
    printf("unknown test %s\n", line);
    return EXIT_TEST_FAIL;
}
