/* smp-ipi-x2apic: smp-ipi's source with this folder's config.h (x2APIC mode). The
 * <config.h> include in it searches the -I folders only, so it finds this folder's copy. */
#include "../smp-ipi/main.c"
