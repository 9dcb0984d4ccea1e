/* smp-timer-x2apic: local APIC in x2APIC (MSR) mode. */
#define USE_X2APIC 1
