/* vga-text: a text-mode kernel's console. Checks that VGA memory 0xA0000-0xBFFFF holds
 * what is written (it is RAM under SwiftVMM; "vga_ram=1" on COM1), then writes rows to the
 * 80x25 colour text page at 0xB8000 (character, attribute 0x07), pausing 100 ms between
 * rows so a host that polls the page sees each change, then 30 more rows 10 ms apart,
 * scrolling as a console does. The last row is "vga-text: done". With "spin" on the command line it then
 * spins (for --exit-on); otherwise it exits v=0. Nothing but vga_ram goes to COM1. */
#include "guest.h"
#include "multiboot.h"
#include "tsc.h"

#define VGA_TEXT ((volatile uint16_t *)0xB8000)
#define COLUMNS 80
#define ROWS 25

static int row;

static void put_line(const char *s) {
    if (row == ROWS) {                              /* scroll up one row */
        for (int i = 0; i < (ROWS - 1) * COLUMNS; i++) VGA_TEXT[i] = VGA_TEXT[i + COLUMNS];
        for (int i = 0; i < COLUMNS; i++) VGA_TEXT[(ROWS - 1) * COLUMNS + i] = 0x0720;
        row = ROWS - 1;
    }
    for (int i = 0; i < COLUMNS; i++) VGA_TEXT[row * COLUMNS + i] = 0x0720;
    for (int i = 0; s[i] && i < COLUMNS; i++) VGA_TEXT[row * COLUMNS + i] = (uint16_t)(0x0700 | (uint8_t)s[i]);
    row++;
}

int main(void) {
    volatile uint32_t *low = (volatile uint32_t *)0xA0000, *high = (volatile uint32_t *)0xBFFFC;
    *low = 0x12345678;
    *high = 0x9ABCDEF0;
    printf("vga_ram=%d\n", *low == 0x12345678 && *high == 0x9ABCDEF0);

    for (int i = 0; i < ROWS * COLUMNS; i++) VGA_TEXT[i] = 0x0720;   /* clear: blanks */
    put_line("SwiftVMM VGA text page");
    delay_us(100000);
    put_line("second row   ");
    delay_us(100000);
    char buf[32];
    for (int i = 0; i < 30; i++) {
        snprintf(buf, sizeof buf, "line %d", i);
        put_line(buf);
        delay_us(10000);
    }
    put_line("vga-text: done");

    const struct mb1_info *info = (const struct mb1_info *)(uintptr_t)boot_info;
    const char *cmdline = (info->flags & (1u << 2)) ? (const char *)(uintptr_t)info->cmdline : "";
    if (strcmp(cmdline, "spin") == 0)
        for (;;) cpu_pause();
    return EXIT_PASS;
}
