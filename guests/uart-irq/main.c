/* uart-irq: interrupt-driven COM1 (16550 at 0x3F8, ISA IRQ4) through the I/O APIC and the
 * local APIC. Multiboot 1, one CPU.
 *
 * Set-up: 8259A pair re-initialised (0x20 / 0x28) and fully masked; local APIC
 * software-enabled with LINT0 masked; I/O APIC input for IRQ4 from the MADT interrupt source
 * override (identity if none, ACPI 6.5 §5.2.12.5) -> vector 0x34, fixed, physical destination
 * = BSP APIC ID, polarity/trigger from the override flags (ISA default: edge, active high).
 * UART (PC16550D datasheet): LCR.DLAB cleared if set (line settings otherwise untouched),
 * FCR untouched (changing FIFO mode would flush bytes already received), LSR and MSR read
 * to clear stale status, MCR = DTR | RTS | OUT2 (bit 3: on a PC, OUT2 gates the UART's INTR
 * onto the IRQ line), IER = 0x01 (ERBFI: received data available; also character time-out
 * with FIFOs). Then "uart-irq: ready" is printed (polled output).
 *
 * Handler (vector 0x34): reads IIR until bit 0 (no interrupt pending) is set, at most 64
 * times: IIR[3:1] = 011 receiver line status -> read LSR; 010 data available / 110 character
 * time-out -> read RBR while LSR bit 0 (DR) is set; 001 THR empty (reading IIR cleared it);
 * 000 modem status -> read MSR. Then local APIC EOI. Received bytes are echoed verbatim
 * (polled, no prefix) until the byte 'q', which is not echoed; bytes after it are counted only.
 * After 'q': IER = 0, a newline, "rx_bytes=<n> echoed=<n> after_q=<n> lsr_irqs=<n> msr_irqs=<n>".
 *
 * THRE part: IER = 0x02 (ETBEI). Enabling ETBEI while THR is empty raises the THRE interrupt
 * (IIR = 0x02, FIFO bits 7:6 aside). The handler then transmits THRE_TEXT one byte per
 * THRE interrupt (interrupt-driven output) and clears ETBEI when it has nothing left, so
 * thre_interrupts = strlen(THRE_TEXT) + 1 normally. Prints
 *   thre_interrupts=<n> thre_iir=0x<first IIR seen for THRE> sent=<n>
 *   uart-irq: PASS (v=0) | uart-irq: FAIL <reason> (v=3) | uart-irq: TIMEOUT (v=4, 10 s)
 * Pass: 'q' received, n >= 1 with IIR & 0x0F == 0x02 each time, all of THRE_TEXT sent.
 * Host test: write e.g. "hello q" to the guest's serial input after "uart-irq: ready" (or
 * before: bytes already in the UART raise the interrupt as soon as ERBFI is set); expect
 * "hello " echoed. */
#include "guest.h"
#include "idt.h"
#include "lapic.h"
#include "tsc.h"
#include "../pic-pit/legacy_hw.h" /* shared with pic-pit, as the -x2apic guests share sources */

#define EXIT_TEST_FAIL 3
#define EXIT_TIMEOUT   4

#define COM1     0x3F8
#define UART_RBR 0 /* read, DLAB = 0 */
#define UART_THR 0 /* write, DLAB = 0 */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6

#define IER_ERBFI 0x01 /* received data available (and FIFO time-out) */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define LCR_DLAB  0x80
#define MCR_DTR   0x01
#define MCR_RTS   0x02
#define MCR_OUT2  0x08
#define LSR_DR    0x01
#define IIR_NONE  0x01

#define VECTOR    0x34
#define THRE_TEXT "thre: interrupt-driven output\n"
#define THRE_WAIT_US 2000000u

static volatile uint32_t rx_bytes, echoed, after_q, lsr_irqs, msr_irqs, irqs, loops_exceeded;
static volatile int got_q;
static volatile uint32_t thre_irqs, thre_bad, tx_pos, thre_done;
static volatile uint8_t thre_iir;
static const char tx_text[] = THRE_TEXT;

static void uart_isr(struct isr_frame *f) {
    (void)f;
    irqs++;
    int i;
    for (i = 0; i < 64; i++) {
        uint8_t iir = inb(COM1 + UART_IIR);
        if (iir & IIR_NONE) break;
        switch (iir & 0x0E) {
        case 0x06: /* receiver line status: cleared by reading LSR */
            lsr_irqs++;
            inb(COM1 + UART_LSR);
            break;
        case 0x04: /* received data available */
        case 0x0C: /* character time-out (FIFO mode) */
            while (inb(COM1 + UART_LSR) & LSR_DR) {
                uint8_t c = inb(COM1 + UART_RBR);
                rx_bytes++;
                if (got_q) {
                    after_q++;
                } else if (c == 'q') {
                    got_q = 1;
                } else {
                    serial_putc((char)c);
                    echoed++;
                }
            }
            break;
        case 0x02: /* THR empty: reading IIR cleared it */
            thre_irqs++;
            if (!thre_iir) thre_iir = iir;
            if ((iir & 0x0F) != 0x02) thre_bad++;
            if (tx_pos < sizeof(tx_text) - 1) {
                outb(COM1 + UART_THR, (uint8_t)tx_text[tx_pos]);
                tx_pos++;
            } else {
                outb(COM1 + UART_IER, (uint8_t)(inb(COM1 + UART_IER) & ~IER_ETBEI));
                thre_done = 1;
            }
            break;
        default: /* 0x00 modem status: cleared by reading MSR */
            msr_irqs++;
            inb(COM1 + UART_MSR);
            break;
        }
    }
    if (i == 64) loops_exceeded++;
    lapic_eoi();
}

static void pic_spurious(struct isr_frame *f) {
    if (f->vector == 0x2F) outb(PIC1_CMD, PIC_OCW2_EOI);
}

int main(void) {
    watchdog_arm(10, EXIT_TIMEOUT, "uart-irq: TIMEOUT");
    cli();
    idt_set_handler(0x27, pic_spurious);
    idt_set_handler(0x2F, pic_spurious);
    pic_init(0x20, 0x28, 0xFF, 0xFF);
    lapic_init(0);
    lapic_write(LAPIC_LVT_LINT0, lapic_read(LAPIC_LVT_LINT0) | LVT_MASKED);

    struct isa_route r = madt_isa_route(4);
    uint64_t ioapic = madt_ioapic_base();
    uint32_t pins = ioapic_pins(ioapic);
    if (r.gsi >= pins) {
        printf("uart-irq: FAIL IRQ4 -> GSI %u but the I/O APIC has %u inputs\n", r.gsi, pins);
        return EXIT_TEST_FAIL;
    }
    if (inb(COM1 + UART_LSR) == 0xFF) {
        printf("uart-irq: FAIL no UART at 0x3F8 (LSR reads 0xFF)\n");
        return EXIT_TEST_FAIL;
    }

    uint8_t lcr = inb(COM1 + UART_LCR);
    if (lcr & LCR_DLAB) outb(COM1 + UART_LCR, (uint8_t)(lcr & ~LCR_DLAB));
    outb(COM1 + UART_IER, 0);
    uint8_t mcr = inb(COM1 + UART_MCR);
    outb(COM1 + UART_MCR, MCR_DTR | MCR_RTS | MCR_OUT2); /* loopback (bit 4) off */
    inb(COM1 + UART_LSR);
    inb(COM1 + UART_MSR);

    idt_set_handler(VECTOR, uart_isr);
    ioapic_set_entry(ioapic, r.gsi, VECTOR | r.red_flags, (uint8_t)lapic_id());
    printf("uart_irq_pin=%u override=%d flags=0x%x lcr=0x%x mcr_was=0x%x\n", r.gsi, r.overridden,
           r.inti_flags, lcr, mcr);
    printf("uart-irq: ready\n");

    outb(COM1 + UART_IER, IER_ERBFI);
    sti();
    while (!got_q) watchdog_poll();
    cli();
    outb(COM1 + UART_IER, 0);
    printf("\nrx_bytes=%u echoed=%u after_q=%u lsr_irqs=%u msr_irqs=%u irqs=%u\n", rx_bytes,
           echoed, after_q, lsr_irqs, msr_irqs, irqs);

    /* THRE: make sure the polled output above has left THR, then enable ETBEI. */
    while (!(inb(COM1 + UART_LSR) & 0x20)) cpu_pause();
    thre_irqs = 0;
    outb(COM1 + UART_IER, IER_ETBEI);
    sti();
    uint64_t end = rdtsc() + tsc_from_us(THRE_WAIT_US);
    while (!thre_done && rdtsc() < end) watchdog_poll();
    cli();
    outb(COM1 + UART_IER, 0);
    ioapic_mask(ioapic, r.gsi);
    while (!(inb(COM1 + UART_LSR) & 0x40)) cpu_pause(); /* transmitter empty (TEMT) */
    printf("thre_interrupts=%u thre_iir=0x%x sent=%u\n", thre_irqs, thre_iir, tx_pos);
    if (loops_exceeded) printf("iir_loop_limit_hit=%u\n", loops_exceeded);

    if (thre_irqs < 1) {
        printf("uart-irq: FAIL no THRE interrupt after setting IER bit 1 with THR empty\n");
        return EXIT_TEST_FAIL;
    }
    if (thre_bad) {
        printf("uart-irq: FAIL %u THRE interrupts with IIR & 0x0F != 0x02 (first IIR 0x%x)\n", thre_bad, thre_iir);
        return EXIT_TEST_FAIL;
    }
    if (!thre_done) {
        printf("uart-irq: FAIL interrupt-driven output stalled after %u of %u bytes\n", tx_pos,
               (unsigned)(sizeof(tx_text) - 1));
        return EXIT_TEST_FAIL;
    }
    printf("uart-irq: PASS\n");
    return EXIT_PASS;
}
