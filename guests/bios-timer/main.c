/* bios-timer: what firmware left running, seen by a kernel that has not touched the
 * chipset yet (SwiftVMM's --bios-timer, which QEMU's spelling turns on; SeaBIOS leaves the
 * same). Prints, from the real-mode interrupt vector table at 0 and the handlers it points
 * at, then the 8259 and the 8254:
 *   ivt8=SSSS:OOOO irq0_handler=<hex bytes up to IRET>   (vector 0x08, the master's IRQ 0)
 *   ivt70=SSSS:OOOO irq8_handler=<hex bytes>             (vector 0x70, the slave's IRQ 8)
 *   ivt20=SSSS:OOOO other_handler=<hex bytes>            (any other vector)
 *   imr=0xMM,0xSS                                       (OCW1 of master and slave)
 *   pit_status=0xXX                                      (channel 0 read-back status, bits 5:0)
 * Then, if IRQ 0 is unmasked, takes three ticks at vector 0x08 (through LINT0 as ExtINT,
 * sending the 8259 its EOI; the third masks IRQ 0) with hlt and prints "ticks=3". The common IDT stubs treat
 * vector 8 as #DF, which pushes an error code; an IRQ does not, so this guest puts its own
 * gate there. Exits v=0. */
#include "guest.h"

#define PIC_MASTER_CMD  0x20
#define PIC_MASTER_DATA 0x21
#define PIC_SLAVE_DATA  0xA1
#define PIT_CHANNEL0    0x40
#define PIT_CONTROL     0x43
#define PIT_READ_BACK_STATUS0 0xE2  /* read-back, status only (COUNT# = 1), counter 0 */

static void show(const char *name, const char *what, uint8_t vector) {
    const volatile uint16_t *ivt = (const volatile uint16_t *)(uintptr_t)0;
    uint16_t offset = ivt[vector * 2], segment = ivt[vector * 2 + 1];
    printf("%s=%04x:%04x %s=", name, segment, offset, what);
    const volatile uint8_t *code = (const volatile uint8_t *)(uintptr_t)((uint32_t)segment * 16 + offset);
    for (int i = 0; i < 16; i++) {
        printf("%02x", code[i]);
        if (code[i] == 0xCF) break;                 /* IRET */
    }
    printf("\n");
}

volatile int ticks;
extern void tick_entry(void);
__asm__(
    ".pushsection .text\n"
    "tick_entry:\n"
    "    push %rax\n"
    "    lock incl ticks(%rip)\n"
    "    cmpl $3, ticks(%rip)\n"
    "    jb 1f\n"
    "    in $0x21, %al\n"                      /* the third: mask IRQ 0, so there is no */
    "    or $1, %al\n"                         /* fourth, however the host bunched them */
    "    out %al, $0x21\n"
    "1:  mov $0x20, %al\n"                     /* non-specific EOI to the master 8259 */
    "    out %al, $0x20\n"
    "    pop %rax\n"
    "    iretq\n"
    ".popsection\n");

/* An interrupt gate (SDM Vol. 3A §6.14.1, Figure 6-8) for vector 8 in the loaded IDT. */
static void set_irq0_gate(void) {
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr;
    uint16_t cs;
    __asm__ volatile("sidt %0" : "=m"(idtr));
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    uint64_t handler = (uint64_t)(uintptr_t)tick_entry;
    volatile uint64_t *gate = (volatile uint64_t *)(uintptr_t)(idtr.base + 8 * 16);
    gate[0] = (handler & 0xFFFF) | (uint64_t)cs << 16 | 0x8EULL << 40 | (handler >> 16 & 0xFFFF) << 48;
    gate[1] = handler >> 32;
}

int main(void) {
    show("ivt8", "irq0_handler", 0x08);
    show("ivt70", "irq8_handler", 0x70);
    show("ivt20", "other_handler", 0x20);
    uint8_t master = inb(PIC_MASTER_DATA), slave = inb(PIC_SLAVE_DATA);
    printf("imr=0x%02x,0x%02x\n", master, slave);
    outb(PIT_CONTROL, PIT_READ_BACK_STATUS0);
    printf("pit_status=0x%02x\n", inb(PIT_CHANNEL0) & 0x3F);
    if (!(master & 1)) {
        set_irq0_gate();
        __asm__ volatile("sti");
        while (ticks < 3) __asm__ volatile("hlt");
        __asm__ volatile("cli");
        printf("ticks=%d\n", ticks);
    }
    return EXIT_PASS;
}
