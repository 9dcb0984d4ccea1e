/* smp-ipi: local APIC in xAPIC (MMIO) mode. */
#define USE_X2APIC 0
