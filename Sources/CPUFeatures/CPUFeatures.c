#include "CPUFeatures.h"

#if defined(__x86_64__)
#include <cpuid.h>

int backprop_has_512_bit_vectors(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;  // OSXSAVE
    unsigned int xcr0, xcr0High;
    __asm__ volatile("xgetbv" : "=a"(xcr0), "=d"(xcr0High) : "c"(0));
    // XMM, YMM, opmask, upper halves of zmm0–15, zmm16–31: all saved by the OS.
    if ((xcr0 & 0xE6u) != 0xE6u) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return (ebx & (1u << 16)) ? 1 : 0;  // AVX512F
}
#else
int backprop_has_512_bit_vectors(void) { return 0; }
#endif
