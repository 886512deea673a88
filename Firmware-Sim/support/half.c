// IEEE half <-> single conversions for RISC-V: LLVM calls __extendhfsf2 / __truncsfhf2, which
// GCC 12's libgcc does not have for rv32. Exact, round to nearest even, like F16C on the host.
#include <stdint.h>
#include <string.h>

float __extendhfsf2(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000u | (man << 13);           // inf / nan
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);  // normal
    else if (man == 0) bits = sign;                                      // zero
    else {                                                               // subnormal: normalise
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3FF) << 13);
    }
    float f; memcpy(&f, &bits, 4); return f;
}

uint16_t __truncsfhf2(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xFF, man = x & 0x7FFFFF;
    if (exp == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 | (man >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 0x1F) return (uint16_t)(sign | 0x7C00);                    // overflow -> inf
    uint32_t m, shift;
    if (e <= 0) {                                                        // subnormal or zero
        if (e < -10) return (uint16_t)sign;
        m = man | 0x800000; shift = (uint32_t)(14 - e);
    } else { m = man; shift = 13; }
    uint32_t half = m >> shift, rest = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rest > mid || (rest == mid && (half & 1))) half++;
    // A carry out of the mantissa moves into the exponent, which is the right answer.
    return (uint16_t)(sign | (e > 0 ? (((uint32_t)e << 10) + half) : half));
}
