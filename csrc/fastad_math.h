/* The constants and small functions that fastad's C kernels share: the
 * scalar kernels (fastad_scalar.c), the array C steps (fastad_steps.c) and
 * the Taylor rules (fastad_taylor.c).  Internal to csrc/: the Cython layer
 * includes fastad_tape.h only. */
#ifndef FASTAD_MATH_H
#define FASTAD_MATH_H

#include "fastad_tape.h"

/* The kernels are switch statements called with a constant opcode from each
 * case of the sweeps' own switch: inlined, each folds to one expression.
 * GCC and Clang otherwise keep the larger ones out of line. */
#if defined(FA_GNU_C)
#define FA_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define FA_ALWAYS_INLINE inline
#endif

/* C99's restrict (MSVC spells it __restrict). */
#if defined(_MSC_VER)
#define FA_RESTRICT __restrict
#else
#define FA_RESTRICT restrict
#endif

#define LN2 0.693147180559945309417232121458176568
#define LN10 2.30258509299404568401799145468436421

/* NumPy's sign: -1, 0 or 1, and NaN for NaN. */
static inline double sign_of(double x)
{
    return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : (x == 0.0 ? 0.0 : x));
}

#endif
