/* timer-soak: xAPIC mode, 10,000 interrupts per mode per CPU (one-shot ~1 s, periodic ~1 s,
 * TSC-deadline ~0.8 s on an idle host). A loaded host runs the vCPUs a fraction of the
 * time, so each mode gets 5 minutes and the whole run 20. */
#define USE_X2APIC   0
#define K            10000
#define TEST_WAIT_US 300000000u
#define WATCHDOG_S   1200
