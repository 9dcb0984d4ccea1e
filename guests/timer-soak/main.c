/* timer-soak: smp-timer's source with this folder's config.h: 10,000 interrupts per mode
 * per CPU, for the timer benchmark (bench/measure.py section 3).
 * The <config.h> include in it searches the -I folders only, so it finds this folder's copy. */
#include "../smp-timer/main.c"
