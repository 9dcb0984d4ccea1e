/* msr-platform-info: reads MSR_PLATFORM_INFO (0xCE) and prints it and its maximum
 * non-turbo ratio, bits 15:8 (SDM Vol. 4 chapter 2, MSR_PLATFORM_INFO 0CEH in the Nehalem-and-later
 * tables: "Maximum Non-Turbo Ratio"); v=0.
 * If the MSR is not implemented, rdmsr raises #GP and the default handler exits 100. */
#include "guest.h"

int main(void) {
    uint64_t v = rdmsr(MSR_PLATFORM_INFO);
    printf("platform_info=0x%lx\nratio=%u\n", v, (unsigned)((v >> 8) & 0xFF));
    return EXIT_PASS;
}
