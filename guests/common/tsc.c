#include "tsc.h"
#include "guest.h"

static uint64_t hz;
static const char *source;

static void measure(void) {
    struct cpuid_regs r = cpuid(0, 0);
    uint32_t max = r.eax;
    if (max >= 0x15) {
        /* CPUID 0x15: TSC = crystal (ECX Hz) * EBX / EAX. */
        struct cpuid_regs t = cpuid(0x15, 0);
        if (t.eax && t.ebx && t.ecx) {
            hz = (uint64_t)t.ecx * t.ebx / t.eax;
            source = "cpuid15";
            return;
        }
    }
    if (max >= 0x16) {
        struct cpuid_regs f = cpuid(0x16, 0); /* EAX[15:0] = base frequency in MHz */
        if (f.eax & 0xFFFF) {
            hz = (uint64_t)(f.eax & 0xFFFF) * 1000000;
            source = "cpuid16";
            return;
        }
    }
    /* CPUID.1:ECX bit 31: running under a hypervisor, so 0x40000000 is meaningful. */
    if (cpuid(1, 0).ecx & (1u << 31)) {
        struct cpuid_regs h = cpuid(0x40000000, 0);
        if (h.eax >= 0x40000010 && h.eax < 0x40000100) {
            uint32_t khz = cpuid(0x40000010, 0).eax;
            if (khz) {
                hz = (uint64_t)khz * 1000;
                source = "hv40000010";
                return;
            }
        }
    }
    hz = 2000000000ull;
    source = "assumed";
}

uint64_t tsc_hz(void) {
    if (!hz) measure();
    return hz;
}

const char *tsc_hz_source(void) {
    tsc_hz();
    return source;
}

uint64_t tsc_from_us(uint64_t us) {
    return us * (tsc_hz() / 1000) / 1000;
}

void delay_us(uint64_t us) {
    uint64_t end = rdtsc() + tsc_from_us(us);
    while (rdtsc() < end) cpu_relax();
}

static volatile uint64_t watchdog_deadline;
static uint8_t watchdog_code;
static const char *watchdog_message;

void watchdog_arm(uint64_t seconds, uint8_t exit_code, const char *message) {
    watchdog_code = exit_code;
    watchdog_message = message;
    __atomic_store_n(&watchdog_deadline, rdtsc() + seconds * tsc_hz(), __ATOMIC_RELEASE);
}

void watchdog_poll(void) {
    uint64_t d = __atomic_load_n(&watchdog_deadline, __ATOMIC_ACQUIRE);
    if (d && rdtsc() > d) {
        panic_printf("%s\n", watchdog_message);
        guest_exit(watchdog_code);
    }
}

void cpu_relax(void) {
    cpu_pause();
    watchdog_poll();
}
