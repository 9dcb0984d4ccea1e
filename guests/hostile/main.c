/* hostile: a guest that pokes everything a VMM exposes, the way a buggy or malicious kernel
 * would. The command line picks the scenario (and "seed=N" the pseudo-random stream):
 *   ports     every port 0-0xFFFF: in and out of each width with random values, except the
 *             ports whose write ends the run (debug exit, ACPI PM1a control, 0xB004, 0xCF9,
 *             8042 command, 0x92, 0x8900, fw_cfg DMA) and COM1 (which prints the result)
 *   mmio      every byte offset of the HPET, I/O APIC and local APIC pages, random widths
 *             (1, 2, 4, 8; unaligned too), read then write random (ICR low is written as one
 *             fixed-delivery dword: an INIT to itself would be a legitimate deadlock)
 *   unbacked  reads and writes where no RAM or device is: above RAM, the device window
 *   ipi       fixed, NMI, INIT and SIPI IPIs to every nonexistent APIC ID, and fixed, NMI
 *             and SIPI to random logical destinations
 *   timers    local APIC timer at count 1 and 0xFFFFFFFF, TSC deadline 1 and ~0, HPET
 *             comparators 0 and max, PIT counters 1 and 0, with interrupts on for 50 ms
 *   storm     64 KiB to the UART as fast as the guest can write
 *   loopback  COM1 in loopback (MCR.LOOP) with FIFOs on: 200 000 bytes sent to itself
 *             without reading, then the FIFO read back; then FIFOs off and "xyz" looped;
 *             prints "loopback kept=N in_order=B oe=B oe_after_read=B rbr=0xNN" (a 16550
 *             keeps 16 bytes, sets LSR.OE, clears it when LSR is read, and without FIFOs
 *             keeps the last byte: kept=16 in_order=1 oe=1 oe_after_read=0 rbr=0x7a)
 *   stream    "line <n>" for n = 1..5000 on COM1, then a triple fault (nothing written
 *             may be lost on the way out)
 *   triple    (SMP) starts the APs; AP 1 triple-faults while the others spin
 *   hltall    (SMP) every CPU executes cli; hlt
 * Each survivable scenario ends with "<scenario> survived" and exit value 0. */
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "multiboot.h"
#include "smp.h"
#include "acpi.h"
#include "tsc.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }

static const char *cmdline;
static int has(const char *word) {
    size_t n = strlen(word);
    for (const char *p = cmdline; *p; p++)
        if ((p == cmdline || p[-1] == ' ') && strncmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '=' || p[n] == 0)) return 1;
    return 0;
}

/* Ports whose write legitimately ends the run, and COM1. */
static int spared(uint32_t port) {
    static const uint16_t ending[] = {0xF4, 0x604, 0x605, 0xB004, 0xB005, 0xCF9, 0x64, 0x92, 0x8900, 0x8901};
    for (unsigned i = 0; i < sizeof ending / sizeof ending[0]; i++)
        if (port + 3 >= ending[i] && port <= ending[i]) return 1;   /* any access overlapping it */
    return (port + 3 >= 0x3F8 && port <= 0x3FF) || (port + 3 >= 0x514 && port <= 0x51B);
}

static void ports(void) {
    uint64_t sum = 0;
    for (uint32_t port = 0; port <= 0xFFFF; port++) {
        if (spared(port)) continue;
        sum += inb(port) + inw(port) + inl(port);
        outb(port, next()); outw(port, next()); outl(port, next());
    }
    printf("ports sum=0x%lx\n", sum);
}

static uint64_t poke(uint64_t address, int width, uint64_t value) {
    uint64_t seen = 0;
    switch (width) {
    case 1: seen = *(volatile uint8_t *)address; *(volatile uint8_t *)address = value; break;
    case 2: seen = *(volatile uint16_t *)address; *(volatile uint16_t *)address = value; break;
    case 4: seen = *(volatile uint32_t *)address; *(volatile uint32_t *)address = value; break;
    default: seen = *(volatile uint64_t *)address; *(volatile uint64_t *)address = value; break;
    }
    return seen;
}

static void sweep(uint64_t base, int lapic) {
    uint64_t sum = 0;
    for (uint64_t offset = 0; offset < 4096; offset++) {
        int width = 1 << (next() % 4);
        if (offset + width > 4096) width = 1;
        uint64_t value = next();
        if (lapic && offset + width > 0x300 && offset < 0x304) {
            /* ICR low: send only fixed-delivery IPIs (interrupts are off, so they stay pending). */
            uint32_t icr = (uint32_t)value & ~0x700u;
            sum += *(volatile uint32_t *)(base + 0x300);
            *(volatile uint32_t *)(base + 0x300) = icr;
            offset = 0x303;
            continue;
        }
        sum += poke(base + offset, width, value);
    }
    printf("mmio 0x%lx sum=0x%lx\n", base, sum);
}

static void mmio(void) {
    sweep(0xFED00000, 0);
    *(volatile uint64_t *)0xFED00010 = 0;       /* HPET off again: its timers stay quiet */
    sweep(0xFEC00000, 0);
    sweep(0xFEE00000, 1);
}

static void unbacked(void) {
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    uint64_t ram_top = 0x100000 + (uint64_t)info->mem_upper * 1024;
    uint64_t places[] = {ram_top, ram_top + 0x1234567, 0xC0000000, 0xDEADB000, 0xFEBFF000, 0xFED01000, 0xFEF00000, 0xFFFFF000};
    for (unsigned i = 0; i < sizeof places / sizeof places[0]; i++) {
        if (places[i] >= 0xFFFFFFF8) continue;
        uint64_t seen = poke(places[i], 8, next());
        printf("unbacked 0x%lx read 0x%lx\n", places[i], seen);
    }
}

static volatile uint32_t nmis, ticks;
static void on_nmi(struct isr_frame *f) { (void)f; nmis++; }
static void on_tick(struct isr_frame *f) { (void)f; ticks++; lapic_eoi(); }

static void ipi(void) {
    static const uint32_t modes[] = {ICR_FIXED | 0x40, ICR_NMI, ICR_INIT | ICR_ASSERT, ICR_STARTUP | 0x10};
    uint32_t self = lapic_id(), stuck = 0, present[MAX_CPUS];
    int cpus = acpi_madt_cpus(present, MAX_CPUS);
    /* Physical 0xFF is the xAPIC broadcast (it would INIT this CPU too: a real deadlock). The
     * CPUs the MADT lists are skipped: INIT-SIPI would restart one at 0x10000, in whatever
     * bytes are there. */
    for (uint32_t id = 0; id < 0xFF; id++) {
        int exists = id == self;
        for (int i = 0; i < cpus && i < MAX_CPUS; i++) exists |= present[i] == id;
        if (exists) continue;
        for (unsigned m = 0; m < 4; m++) stuck += lapic_send_ipi(id, modes[m]) != 0;
    }
    /* Random logical destinations may include this CPU: no INIT there. */
    static const uint32_t logical[] = {ICR_FIXED | 0x40, ICR_NMI, ICR_STARTUP | 0x10};
    for (int i = 0; i < 1000; i++) stuck += lapic_send_ipi(next() & 0xFF, ICR_LOGICAL | logical[next() % 3]) != 0;
    printf("ipi stuck=%u nmis=%u\n", stuck, nmis);
}

static void run_with_interrupts(uint64_t us) {
    uint64_t end = rdtsc() + tsc_from_us(us);
    __asm__ volatile("sti");
    while (rdtsc() < end) __asm__ volatile("pause");
    __asm__ volatile("cli");
}

static void timers(void) {
    lapic_write(LAPIC_TIMER_DIVIDE, 0xB);                 /* divide by 1 */
    lapic_write(LAPIC_LVT_TIMER, 0x40 | (1u << 17));      /* periodic */
    lapic_write(LAPIC_TIMER_INITIAL, 1);
    run_with_interrupts(50000);
    lapic_write(LAPIC_TIMER_INITIAL, 0xFFFFFFFF);
    run_with_interrupts(10000);
    lapic_write(LAPIC_TIMER_INITIAL, 0);
    if (cpu_has_tsc_deadline()) {
        lapic_write(LAPIC_LVT_TIMER, 0x40 | (2u << 17));  /* TSC-deadline */
        wrmsr(0x6E0, 1); run_with_interrupts(10000);
        wrmsr(0x6E0, ~0ull); run_with_interrupts(10000);
        wrmsr(0x6E0, 0);
    }
    lapic_write(LAPIC_LVT_TIMER, 1u << 16);
    volatile uint64_t *hpet = (volatile uint64_t *)0xFED00000;
    hpet[0x100 / 8] = (1u << 2) | (1u << 3) | (1u << 6);  /* timer 0: interrupts, periodic, set value */
    hpet[0x108 / 8] = 0;
    hpet[0x10 / 8] = 1;                                  /* enable (not legacy: no route programmed) */
    run_with_interrupts(10000);
    hpet[0x108 / 8] = ~0ull;
    run_with_interrupts(10000);
    hpet[0x10 / 8] = 0;
    outb(0x43, 0x34); outb(0x40, 1); outb(0x40, 0);       /* PIT ch0 mode 2, count 1 */
    run_with_interrupts(10000);
    outb(0x43, 0x34); outb(0x40, 0); outb(0x40, 0);       /* count 0 = 65536 */
    run_with_interrupts(10000);
    printf("timers ticks=%u\n", ticks);
}

static void storm(void) {
    for (uint32_t i = 0; i < 64 * 1024; i++) outb(0x3F8, 'a' + i % 26);
    outb(0x3F8, '\n');
}

static void loopback(void) {
    enum { DATA = 0x3F8, FCR = 0x3FA, MCR = 0x3FC, LSR = 0x3FD };
    outb(FCR, 0x07);                                      /* FIFOs on, both cleared */
    outb(MCR, 0x10);                                      /* LOOP: THR -> RBR, nothing out */
    for (uint32_t i = 0; i < 200000; i++) outb(DATA, (uint8_t)i);
    unsigned oe = (inb(LSR) >> 1) & 1, oe_after_read = (inb(LSR) >> 1) & 1;
    unsigned kept = 0, in_order = 1;
    while ((inb(LSR) & 1) && kept < 1000) {
        if (inb(DATA) != (uint8_t)kept) in_order = 0;
        kept++;
    }
    outb(FCR, 0x00);                                      /* FIFOs off: one holding register */
    outb(DATA, 'x'); outb(DATA, 'y'); outb(DATA, 'z');
    uint8_t rbr = inb(DATA);
    (void)inb(LSR);
    outb(MCR, 0x03);                                      /* DTR | RTS, LOOP off */
    printf("loopback kept=%u in_order=%u oe=%u oe_after_read=%u rbr=0x%x\n", kept, in_order, oe, oe_after_read, rbr);
}

static void triple_fault(void) {
    static const struct { uint16_t limit; uint64_t base; } __attribute__((packed)) empty = {0, 0};
    __asm__ volatile("lidt %0; int3" :: "m"(empty));
}

static void triple_fault_ap(struct cpu *c) {
    if (c->index != 1) for (;;) __asm__ volatile("pause");
    triple_fault();
}

static void halt_ap(struct cpu *c) { (void)c; halt_forever(); }

static void start_aps(ap_main_t fn) {
    uint32_t ids[MAX_CPUS];
    int n = acpi_madt_cpus(ids, MAX_CPUS);
    if (n > 1) smp_start_aps(ids, n, fn, 100000);
}

int main(void) {
    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    cmdline = (info->flags & MB1_INFO_CMDLINE) ? (const char *)(uintptr_t)info->cmdline : "";
    for (const char *p = cmdline; *p; p++)
        if (strncmp(p, "seed=", 5) == 0)
            for (state = 0, p += 5; *p >= '0' && *p <= '9'; p++) state = state * 10 + (uint64_t)(*p - '0');
    if (state == 0) state = 1;
    lapic_init(0);
    idt_set_handler(2, on_nmi);
    idt_set_handler(0x40, on_tick);
    const char *name = "nothing";
    if (has("ports")) { name = "ports"; ports(); }
    else if (has("mmio")) { name = "mmio"; mmio(); }
    else if (has("unbacked")) { name = "unbacked"; unbacked(); }
    else if (has("ipi")) { name = "ipi"; ipi(); }
    else if (has("timers")) { name = "timers"; timers(); }
    else if (has("storm")) { name = "storm"; storm(); }
    else if (has("loopback")) { name = "loopback"; loopback(); }
    else if (has("stream")) { for (int i = 1; i <= 5000; i++) printf("line %d\n", i); triple_fault(); }
    else if (has("triple")) { start_aps(triple_fault_ap); for (;;) __asm__ volatile("pause"); }
    else if (has("hltall")) { start_aps(halt_ap); halt_forever(); }
    printf("%s survived\n", name);
    return EXIT_PASS;
}
