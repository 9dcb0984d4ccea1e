/* rtc-irq: the RTC's interrupt on IRQ8, through the slave 8259 (vectors remapped to
 * 0x20/0x28, IRQ 2 and 8 unmasked, LINT0 ExtINT as firmware leaves it). The handler reads
 * register C (which drops IRQ8 until the next event) and sends EOI to both 8259s.
 *   periodic: PIE at 1024 Hz (RS 6) until 256 interrupts; each must have IRQF and PF in C.
 *   alarm:    AIE with every alarm byte "don't care" (the next update), PIE off; one
 *             interrupt with IRQF and AF.
 *   update:   UIE alone; one interrupt with IRQF and UF.
 * Prints "periodic=256 pf=256", "alarm=1 af=1", "update=1 uf=1", then "rtc-irq: PASS"
 * (v=0), or "rtc-irq: FAIL" (v=1). */
#include "guest.h"
#include "idt.h"
#include "tsc.h"
#include "rtc.h"

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xA0
#define PIC2_DATA 0xA1
#define VECTOR_BASE 0x20
#define RTC_VECTOR (VECTOR_BASE + 8)

static volatile int interrupts, with_flag, target;
static volatile uint8_t wanted;

/* Counts up to `target` interrupts, then turns the source off in register B: one that the
 * host delivered late right behind the last is read and acknowledged, not counted. So is
 * an edge the 8259 latched before the last count's read of C, which finds IRQF clear. */
static void rtc_isr(struct isr_frame *f) {
    (void)f;
    uint8_t c = rtc_in(RTC_REG_C);
    if (interrupts < target && (c & RTC_C_IRQF)) {
        interrupts++;
        if ((c & (RTC_C_IRQF | wanted)) == (RTC_C_IRQF | wanted)) with_flag++;
        if (interrupts == target) rtc_out(RTC_REG_B, RTC_B_24H);
    }
    outb(PIC2_CMD, 0x20);
    outb(PIC1_CMD, 0x20);
}

/* Enables `enable` in register B and takes interrupts until `count` came. */
static void take(uint8_t enable, uint8_t flag, int count) {
    __asm__ volatile("cli");
    interrupts = 0;
    with_flag = 0;
    wanted = flag;
    target = count;
    rtc_in(RTC_REG_C);
    rtc_out(RTC_REG_B, RTC_B_24H | enable);
    __asm__ volatile("sti");
    while (interrupts < count) __asm__ volatile("hlt");
    __asm__ volatile("cli");
    rtc_in(RTC_REG_C);
}

int main(void) {
    /* ICW1-4: edge, cascade, vectors 0x20/0x28, slave on IR2, 8086 mode; then the masks. */
    outb(PIC1_CMD, 0x11); outb(PIC2_CMD, 0x11);
    outb(PIC1_DATA, VECTOR_BASE); outb(PIC2_DATA, VECTOR_BASE + 8);
    outb(PIC1_DATA, 0x04); outb(PIC2_DATA, 0x02);
    outb(PIC1_DATA, 0x01); outb(PIC2_DATA, 0x01);
    outb(PIC1_DATA, 0xFB); outb(PIC2_DATA, 0xFE);
    idt_set_handler(RTC_VECTOR, rtc_isr);

    int ok = 1;
    rtc_out(RTC_REG_A, 0x26);                                  /* 1024 Hz */
    take(RTC_B_PIE, RTC_C_PF, 256);
    printf("periodic=%d pf=%d\n", interrupts, with_flag);
    ok &= interrupts == 256 && with_flag == 256;

    rtc_out(RTC_SECONDS_ALARM, RTC_ALARM_ANY); rtc_out(RTC_MINUTES_ALARM, RTC_ALARM_ANY); rtc_out(RTC_HOURS_ALARM, RTC_ALARM_ANY);
    take(RTC_B_AIE, RTC_C_AF, 1);
    printf("alarm=%d af=%d\n", interrupts, with_flag);
    ok &= interrupts == 1 && with_flag == 1;

    take(RTC_B_UIE, RTC_C_UF, 1);
    printf("update=%d uf=%d\n", interrupts, with_flag);
    ok &= interrupts == 1 && with_flag == 1;

    printf("rtc-irq: %s\n", ok ? "PASS" : "FAIL");
    return ok ? EXIT_PASS : EXIT_FAIL;
}
