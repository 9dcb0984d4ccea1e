/* The MC146818A real-time clock's registers and their access through the CMOS ports (0x70
 * index, 0x71 data): the alarm bytes, status registers A to C and their bits (MC146818A
 * datasheet, "Registers"). */
#ifndef GUEST_RTC_H
#define GUEST_RTC_H

#include <stdint.h>
#include "io.h"

#define CMOS_INDEX 0x70
#define CMOS_DATA  0x71

#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS_ALARM   0x05
#define RTC_ALARM_ANY     0xC0   /* bits 7:6 set: "don't care", matches every value */

#define RTC_REG_A 0x0A
#define RTC_A_UIP 0x80           /* update in progress */

#define RTC_REG_B 0x0B
#define RTC_B_PIE 0x40           /* periodic interrupt enable */
#define RTC_B_AIE 0x20           /* alarm interrupt enable */
#define RTC_B_UIE 0x10           /* update-ended interrupt enable */
#define RTC_B_24H 0x02

#define RTC_REG_C 0x0C           /* flags; reading clears them and drops IRQ8 */
#define RTC_C_IRQF 0x80
#define RTC_C_PF 0x40
#define RTC_C_AF 0x20
#define RTC_C_UF 0x10

static inline uint8_t rtc_in(uint8_t reg) { outb(CMOS_INDEX, reg); return inb(CMOS_DATA); }
static inline void rtc_out(uint8_t reg, uint8_t v) { outb(CMOS_INDEX, reg); outb(CMOS_DATA, v); }

#endif
