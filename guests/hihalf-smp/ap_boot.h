/* Starting the application processors of hihalf-smp one at a time, the way a PC kernel
 * does without firmware help: real-mode trampoline at 0x70000, the CMOS warm-reset
 * sequence, then INIT and SIPI (SDM Vol. 3A §9.4.4.1; Intel MP Spec 1.4 §B.4). */
#ifndef HIHALF_AP_BOOT_H
#define HIHALF_AP_BOOT_H

#include <stdint.h>

#define AP_TRAMPOLINE_PHYS 0x70000u
#define AP_SIPI_VECTOR     (AP_TRAMPOLINE_PHYS >> 12) /* 0x70: starts at 0x7000:0000 */

/* Copies the trampoline to AP_TRAMPOLINE_PHYS, gives it this CPU's CR3 and the C entry,
 * and sets the warm-reset vector: CMOS shutdown status (register 0x0F) = 0x0A "jump to the
 * 40:67 vector", and the far pointer at 0x467 = 0x7000:0000 (MP Spec §B.4). The CMOS
 * writes go to ports 0x70/0x71 whether or not the machine has a CMOS. */
void ap_boot_prepare(void);

/* Starts the AP with this APIC ID as CPU `index` (>= 1): INIT, 10 ms, SIPI; if the AP has
 * not reached the trampoline 200 us later, a second SIPI; then waits up to wait_ms for it
 * to check in from C (after it printed its line). Delays use tsc_per_ms.
 * Returns the number of SIPIs sent (1 or 2), or 0 if the AP never checked in. */
int ap_boot_start(uint32_t apic_id, uint32_t index, uint64_t tsc_per_ms, uint32_t wait_ms);

/* Undoes ap_boot_prepare's warm-reset settings (CMOS 0x0F = 0, 0x467 = 0), as Linux does
 * once its APs are up. */
void ap_boot_finish(void);

/* APs that checked in with a fault (not in long mode, not in the high half). */
uint32_t ap_boot_failures(void);

#endif
