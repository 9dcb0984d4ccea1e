/* Legacy interrupt controllers and timers: 8259A PIC pair, 8254 PIT (+ port 0x61), I/O APIC,
 * HPET, ACPI MADT interrupt source overrides and the FADT PM timer block. Header-only
 * (static inline, so unused helpers cost nothing) and kept here rather than in common/:
 * hpet-legacy, hpet-oneshot, pmtimer and uart-irq include it as "../pic-pit/legacy_hw.h"
 * (the way the -x2apic guests include their base guest's source).
 *
 * References:
 *   8259A  Intel 8259A Programmable Interrupt Controller datasheet (231468): ICW1-4, OCW1-3.
 *   8254   Intel 8254 Programmable Interval Timer datasheet (231164): control word, modes.
 *   ELCR / port 0x61: Intel 82371AB PIIX4 datasheet, ISA-compatible registers: ELCR1/2
 *          (0x4D0/0x4D1) and the NMI status and control register (port 0x61: bit 0 timer 2
 *          gate, bit 1 speaker data enable, bit 5 timer 2 OUT, read-only).
 *   IOAPIC Intel 82093AA I/O APIC datasheet (290566) §3.0 (IOREGSEL 0x00, IOWIN 0x10,
 *          IOAPICVER reg 1, IOREDTBL regs 0x10 + 2n).
 *   HPET   IA-PC HPET (High Precision Event Timers) Specification 1.0a §2.3 registers.
 *   ACPI   ACPI 6.5 §5.2.12 MADT (§5.2.12.3 I/O APIC, §5.2.12.5 interrupt source
 *          override, table 5.26 MPS INTI flags), §5.2.9 FADT, §4.8 PM timer (fixed hardware).
 */
#ifndef LEGACY_HW_H
#define LEGACY_HW_H

#include <stdint.h>
#include "acpi.h"
#include "io.h"
#include "string.h"
#include "tsc.h"

/* ---------------------------------------------------------------- 8259A PIC pair */
#define PIC1_CMD   0x20
#define PIC1_DATA  0x21
#define PIC2_CMD   0xA0
#define PIC2_DATA  0xA1
#define ELCR1      0x4D0 /* IRQ0-7 edge(0)/level(1); bits 0,1,2 must be 0 on PIIX */
#define ELCR2      0x4D1 /* IRQ8-15; bits 0 (IRQ8) and 5 (IRQ13) must be 0 */

#define PIC_ICW1_INIT  0x10 /* D4 = 1: this is ICW1 */
#define PIC_ICW1_ICW4  0x01 /* IC4: ICW4 follows; SNGL (bit 1) = 0: cascade; LTIM = 0: edge */
#define PIC_ICW4_8086  0x01 /* uPM = 1: 8086/8088 mode; normal (not auto) EOI */
#define PIC_OCW2_EOI   0x20 /* non-specific EOI */
#define PIC_OCW3_IRR   0x0A /* RR = 1, RIS = 0: next read of the command port returns IRR */
#define PIC_OCW3_ISR   0x0B /* RR = 1, RIS = 1: ... returns ISR */

/* Full initialisation of both 8259As (8259A datasheet "Initialization Command Words"):
 * ICW1 on the command port starts the sequence (and clears the IMR and the edge-sense
 * latches), then ICW2 (vector base, bits 7:3), ICW3 (master: slave on IR2 = 0x04; slave:
 * cascade identity 2), ICW4 (8086 mode). The masks are then set with OCW1. */
static inline void pic_init(uint8_t master_base, uint8_t slave_base, uint8_t master_mask,
                            uint8_t slave_mask) {
    outb(PIC1_CMD, PIC_ICW1_INIT | PIC_ICW1_ICW4);
    outb(PIC2_CMD, PIC_ICW1_INIT | PIC_ICW1_ICW4);
    outb(PIC1_DATA, master_base);
    outb(PIC2_DATA, slave_base);
    outb(PIC1_DATA, 0x04);
    outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, PIC_ICW4_8086);
    outb(PIC2_DATA, PIC_ICW4_8086);
    outb(PIC1_DATA, master_mask); /* OCW1 */
    outb(PIC2_DATA, slave_mask);
}

static inline void pic_mask_all(void) {
    outb(PIC1_DATA, 0xFF);
    outb(PIC2_DATA, 0xFF);
}

/* Reads the in-service register of the master (slave = 0) or slave (slave = 1), then puts
 * the chip back to returning IRR on command-port reads (OCW3). */
static inline uint8_t pic_read_isr(int slave) {
    uint16_t port = slave ? PIC2_CMD : PIC1_CMD;
    outb(port, PIC_OCW3_ISR);
    uint8_t v = inb(port);
    outb(port, PIC_OCW3_IRR);
    return v;
}

/* Non-specific EOI for an IRQ taken through the pair: the slave's first for IRQ 8-15. */
static inline void pic_eoi(unsigned irq) {
    if (irq >= 8) outb(PIC2_CMD, PIC_OCW2_EOI);
    outb(PIC1_CMD, PIC_OCW2_EOI);
}

/* ---------------------------------------------------------------- 8254 PIT */
#define PIT_CH0    0x40
#define PIT_CH2    0x42
#define PIT_CMD    0x43
#define PIT_HZ     1193182u
#define PORT_61    0x61
#define P61_GATE2  0x01 /* timer 2 gate */
#define P61_SPKR   0x02 /* speaker data enable */
#define P61_OUT2   0x20 /* timer 2 output (read-only) */

/* 8254 control word: SC (7:6) counter, RW (5:4) 3 = LSB then MSB, M (3:1) mode, BCD (0). */
#define PIT_CW(ch, mode) (uint8_t)(((ch) << 6) | (3u << 4) | ((mode) << 1))

/* Loads a 16-bit count (0 = 65536) after a control word with RW = 3. */
static inline void pit_load(uint16_t port, uint16_t count) {
    outb(port, (uint8_t)count);
    outb(port, (uint8_t)(count >> 8));
}

/* Makes channel 0 stop producing periodic edges: mode 0 (interrupt on terminal count) with
 * count 0 (65536). OUT0 goes low at the control word; it rises once, ~55 ms later, and then
 * stays high (8254 datasheet, mode 0). (The control word alone would stop a real 8254 until
 * a count is written, but KVM's in-kernel PIT keeps its old period until a count is loaded,
 * so the count is loaded too, as Linux's i8253 shutdown does.) */
static inline void pit_ch0_quiesce(void) {
    outb(PIT_CMD, PIT_CW(0, 0));
    pit_load(PIT_CH0, 0);
}

/* ---------------------------------------------------------------- I/O APIC */
#define IOAPIC_DEFAULT_BASE 0xFEC00000u
#define IOAPIC_REG_VER      0x01
#define IOAPIC_REDTBL(n)    (0x10 + 2 * (n))

/* Redirection entry (82093AA §3.2.4 IOREDTBL): 7:0 vector, 10:8 delivery mode (0 fixed),
 * 11 destination mode (0 physical), 12 delivery status (RO), 13 polarity (1 = active low),
 * 14 remote IRR (RO), 15 trigger (1 = level), 16 mask, 63:56 destination APIC ID. */
#define IORED_ACTIVE_LOW (1u << 13)
#define IORED_LEVEL      (1u << 15)
#define IORED_MASKED     (1u << 16)

static inline uint32_t ioapic_read(uint64_t base, uint32_t reg) {
    *(volatile uint32_t *)base = reg;
    return *(volatile uint32_t *)(base + 0x10);
}

static inline void ioapic_write(uint64_t base, uint32_t reg, uint32_t v) {
    *(volatile uint32_t *)base = reg;
    *(volatile uint32_t *)(base + 0x10) = v;
}

/* Number of redirection entries: IOAPICVER bits 23:16 + 1. */
static inline uint32_t ioapic_pins(uint64_t base) {
    return ((ioapic_read(base, IOAPIC_REG_VER) >> 16) & 0xFF) + 1;
}

/* Programs pin's entry: high dword (destination) first, then the low dword, so the entry is
 * complete when an unmasked low dword lands. */
static inline void ioapic_set_entry(uint64_t base, uint32_t pin, uint32_t low, uint8_t dest) {
    ioapic_write(base, IOAPIC_REDTBL(pin) + 1, (uint32_t)dest << 24);
    ioapic_write(base, IOAPIC_REDTBL(pin), low);
}

static inline void ioapic_mask(uint64_t base, uint32_t pin) {
    uint32_t low = ioapic_read(base, IOAPIC_REDTBL(pin));
    ioapic_write(base, IOAPIC_REDTBL(pin), low | IORED_MASKED);
}

/* ---------------------------------------------------------------- MADT (ACPI 6.5 §5.2.12) */
struct isa_route {
    uint32_t gsi;        /* I/O APIC input (GSI; with one I/O APIC at GSI base 0, the pin) */
    uint32_t red_flags;  /* IORED_ACTIVE_LOW / IORED_LEVEL as the flags say */
    int overridden;      /* 1 if an interrupt source override (type 2) named this IRQ */
    uint16_t inti_flags; /* the override's raw MPS INTI flags */
};

/* Where ISA IRQ `irq` enters the I/O APIC: an interrupt source override (MADT type 2: bus 0,
 * source = ISA IRQ, GSI, MPS INTI flags) if one exists, else identity (GSI = IRQ). INTI
 * flags (table 5.26): polarity bits 1:0 (00 = conforms to the bus, 01 = active high,
 * 11 = active low), trigger bits 3:2 (00 = conforms, 01 = edge, 11 = level). ISA conforms to
 * edge-triggered, active high. */
static inline struct isa_route madt_isa_route(uint8_t irq) {
    struct isa_route r = { irq, 0, 0, 0 };
    const struct acpi_sdt *madt = acpi_find_table("APIC");
    if (!madt) return r;
    const uint8_t *p = (const uint8_t *)madt + sizeof(struct acpi_sdt) + 8;
    const uint8_t *end = (const uint8_t *)madt + madt->length;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        if (p[0] == 2 && p[1] >= 10 && p[2] == 0 && p[3] == irq) {
            memcpy(&r.gsi, p + 4, 4);
            memcpy(&r.inti_flags, p + 8, 2);
            r.overridden = 1;
            if ((r.inti_flags & 3) == 3) r.red_flags |= IORED_ACTIVE_LOW;
            if (((r.inti_flags >> 2) & 3) == 3) r.red_flags |= IORED_LEVEL;
            break;
        }
        p += p[1];
    }
    return r;
}

/* Address of the I/O APIC whose GSI range starts at 0 (MADT type 1: id, reserved, address,
 * GSI base), else the first one listed, else the conventional 0xFEC00000. */
static inline uint64_t madt_ioapic_base(void) {
    uint64_t first = 0;
    const struct acpi_sdt *madt = acpi_find_table("APIC");
    if (!madt) return IOAPIC_DEFAULT_BASE;
    const uint8_t *p = (const uint8_t *)madt + sizeof(struct acpi_sdt) + 8;
    const uint8_t *end = (const uint8_t *)madt + madt->length;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        if (p[0] == 1 && p[1] >= 12) {
            uint32_t addr, gsi_base;
            memcpy(&addr, p + 4, 4);
            memcpy(&gsi_base, p + 8, 4);
            if (gsi_base == 0) return addr;
            if (!first) first = addr;
        }
        p += p[1];
    }
    return first ? first : IOAPIC_DEFAULT_BASE;
}

/* ---------------------------------------------------------------- HPET (IA-PC HPET 1.0a §2.3) */
#define HPET_DEFAULT_BASE 0xFED00000u
#define HPET_GCAP_ID      0x000 /* 63:32 COUNTER_CLK_PERIOD (fs), 15 LEG_RT_CAP,
                                   13 COUNT_SIZE_CAP, 12:8 NUM_TIM_CAP (last timer index) */
#define HPET_GEN_CONF     0x010 /* 0 ENABLE_CNF, 1 LEG_RT_CNF */
#define HPET_GINTR_STA    0x020 /* bit n: timer n interrupt active (level mode), RW1C */
#define HPET_MAIN_CNT     0x0F0
#define HPET_TN_CONF(n)   (0x100 + 0x20 * (n))
#define HPET_TN_CMP(n)    (0x108 + 0x20 * (n))

#define HPET_CAP_LEG_RT    (1u << 15)
#define HPET_CAP_COUNT64   (1u << 13)
#define HPET_CONF_ENABLE   (1u << 0)
#define HPET_CONF_LEG_RT   (1u << 1)
#define HPET_MAX_PERIOD_FS 0x05F5E100u /* 100 ns: the largest period the spec allows */

/* Tn_CONF_CAP bits (§2.3.8). */
#define HPET_TN_INT_TYPE_LEVEL (1u << 1)
#define HPET_TN_INT_ENB        (1u << 2)
#define HPET_TN_PERIODIC       (1u << 3)
#define HPET_TN_PER_INT_CAP    (1u << 4)
#define HPET_TN_SIZE_CAP       (1u << 5) /* 1 = 64-bit comparator */
#define HPET_TN_VAL_SET        (1u << 6)
#define HPET_TN_32MODE         (1u << 8)
#define HPET_TN_ROUTE_SHIFT    9         /* Tn_INT_ROUTE_CNF, bits 13:9 */
#define HPET_TN_ROUTE_MASK     (0x1Fu << 9)
#define HPET_TN_FSB_EN         (1u << 14)
/* Bits 63:32 of Tn_CONF_CAP: Tn_INT_ROUTE_CAP, bit k = I/O APIC input k allowed. */

/* Base from the ACPI HPET table (HPET 1.0a §3.2.4: Generic Address Structure at byte 40,
 * its 64-bit address at byte 44), else 0xFED00000. The identity map covers it only below
 * 4 GiB (uncached from 0xFEC00000). */
static inline uint64_t hpet_base_from_acpi(int *from_acpi) {
    const struct acpi_sdt *t = acpi_find_table("HPET");
    *from_acpi = 0;
    if (t && t->length >= 52) {
        uint64_t a;
        memcpy(&a, (const uint8_t *)t + 44, 8);
        if (a >= 0xFEC00000ull && a < 0x100000000ull) {
            *from_acpi = 1;
            return a;
        }
    }
    return HPET_DEFAULT_BASE;
}

/* The spec allows 32-bit and 64-bit aligned accesses to the registers (§2.3). */
static inline uint32_t hpet_r32(uint64_t base, uint32_t off) { return *(volatile uint32_t *)(base + off); }
static inline void hpet_w32(uint64_t base, uint32_t off, uint32_t v) { *(volatile uint32_t *)(base + off) = v; }
static inline uint64_t hpet_r64(uint64_t base, uint32_t off) { return *(volatile uint64_t *)(base + off); }
static inline void hpet_w64(uint64_t base, uint32_t off, uint64_t v) { *(volatile uint64_t *)(base + off) = v; }

/* ---------------------------------------------------------------- TSC reference */
/* The TSC rate the VMM advertises, in kHz (CPUID 0x15, 0x16 or 0x40000010 via tsc_hz()),
 * or 0 if it advertises none (tsc_hz() then assumes 2 GHz, useless as a reference). */
static inline uint64_t cpuid_tsc_khz(void) {
    uint64_t hz = tsc_hz();
    const char *src = tsc_hz_source();
    if (src[0] == 'a') return 0; /* "assumed" */
    return hz / 1000;
}

/* |measured - expected| <= expected / 100, i.e. within 1 %. */
static inline int within_1pct(uint64_t measured, uint64_t expected) {
    uint64_t d = measured > expected ? measured - expected : expected - measured;
    return d * 100 <= expected;
}

/* Signed deviation in ppm: (measured - expected) * 10^6 / expected. */
static inline long deviation_ppm(uint64_t measured, uint64_t expected) {
    if (!expected) return 0;
    if (measured >= expected) return (long)((measured - expected) * 1000000 / expected);
    return -(long)((expected - measured) * 1000000 / expected);
}

#endif
