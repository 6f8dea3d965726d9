/* The array C steps: reverse steps of array operations that the sweep runs
 * in C instead of calling their rules through NumPy (see _c_step in
 * src/fastad/_core/primitive.pxi, which decides when they apply).
 *
 * Each computes the same expression as the rule of src/fastad/ops/ it
 * replaces, in the same order of operations, so the two agree bit for bit
 * (tests/test_core.py checks every opcode against its rule).  `accumulate`
 * adds into `out` instead of overwriting it, and is tested outside the
 * loops so that they vectorize; FA_CLONES builds them for AVX2 too. */
#include "fastad_tape.h"
#include "fastad_math.h"

#include <math.h>

FA_CLONES
int fa_unary_vjp(int opcode, const double *x, const double *y, const double *g,
                 double *out, int64_t n, int accumulate)
{
    /* The expressions of the array rules in fastad/ops/elementwise.py, in
     * the same order of operations. */
/* (accumulate is tested outside the loops, so that they vectorize) */
#define LOOP(expr) \
    do { \
        if (accumulate) { \
            for (int64_t i = 0; i < n; ++i) { \
                const double xi = x[i], yi = y[i], gi = g[i]; \
                (void)xi; (void)yi; \
                out[i] += (expr); \
            } \
        } else { \
            for (int64_t i = 0; i < n; ++i) { \
                const double xi = x[i], yi = y[i], gi = g[i]; \
                (void)xi; (void)yi; \
                out[i] = (expr); \
            } \
        } \
        return 0; \
    } while (0)
    (void)x; (void)y;
    switch (opcode) {
    case FA_NEG: LOOP(-gi);
    case FA_ABS: LOOP(gi * sign_of(xi));
    case FA_SQUARE: LOOP(gi * (2.0 * xi));
    case FA_SQRT: LOOP(gi * (0.5 / yi));
    case FA_CBRT: LOOP(gi / (3.0 * yi * yi));
    case FA_RECIPROCAL: LOOP(-gi * (yi * yi));
    case FA_EXP: LOOP(gi * yi);
    case FA_EXP2: LOOP(gi * (yi * LN2));
    case FA_EXPM1: LOOP(gi * (yi + 1.0));
    case FA_LOG: LOOP(gi / xi);
    case FA_LOG1P: LOOP(gi / (1.0 + xi));
    case FA_LOG2: LOOP(gi / (xi * LN2));
    case FA_LOG10: LOOP(gi / (xi * LN10));
    case FA_SIN: LOOP(gi * cos(xi));
    case FA_COS: LOOP(-gi * sin(xi));
    case FA_TAN: LOOP(gi * (1.0 + yi * yi));
    case FA_ASIN: LOOP(gi / sqrt((1.0 - xi) * (1.0 + xi)));
    case FA_ACOS: LOOP(-gi / sqrt((1.0 - xi) * (1.0 + xi)));
    case FA_ATAN: LOOP(gi / (1.0 + xi * xi));
    case FA_SINH: LOOP(gi * cosh(xi));
    case FA_COSH: LOOP(gi * sinh(xi));
    case FA_TANH: LOOP(gi * (1.0 - yi * yi));
    case FA_ASINH: LOOP(gi / sqrt(xi * xi + 1.0));
    case FA_ACOSH: LOOP(gi / sqrt((xi - 1.0) * (xi + 1.0)));
    case FA_ATANH: LOOP(gi / ((1.0 - xi) * (1.0 + xi)));
    default: return -1;
    }
#undef LOOP
}

FA_CLONES
int fa_constant_vjp(int opcode, int constant_first, double c, const double *x,
                     const double *y, const double *g, double *out, int64_t n, int accumulate)
{
    /* As the rules of add, subtract, multiply and true_divide in
     * fastad/ops/elementwise.py, for the operand that is an array when the
     * other is the constant c. */
#define LOOP(expr) \
    do { \
        if (accumulate) { \
            for (int64_t i = 0; i < n; ++i) { \
                const double gi = g[i]; \
                out[i] += (expr); \
            } \
        } else { \
            for (int64_t i = 0; i < n; ++i) { \
                const double gi = g[i]; \
                out[i] = (expr); \
            } \
        } \
        return 0; \
    } while (0)
    switch (opcode) {
    case FA_ADD: LOOP(gi);
    case FA_SUB: if (constant_first) LOOP(-gi); else LOOP(gi);
    case FA_MUL: LOOP(gi * c);
    case FA_DIV: if (constant_first) LOOP(-gi * y[i] / x[i]); else LOOP(gi / c);
    case FA_POW: /* x ** 2 only: (g * 2) * x, as the rule folds it */
        if (constant_first || c != 2.0)
            return -1;
        LOOP((gi * 2.0) * x[i]);
    default: return -1;
    }
#undef LOOP
}

/* maximum/minimum(x, c) with a constant c: the cotangent of x is g where
 * x is the result, g / 2 where it ties with c, 0 elsewhere (the rule of
 * fastad/ops/elementwise.py: a NaN result routes nothing). */
#define EXTREMUM_VJP(NAME, T) \
    FA_CLONES int NAME(const T *x, const T *ans, double c, const T *g, T *out, int64_t n, \
             int accumulate) \
    { \
        /* the share as arithmetic on the two comparisons, not branches: \
         * 1 * (1 - 0.5 * tie) exactly, and the loop vectorizes */ \
        const T half = (T)0.5, one = (T)1.0, tie = (T)c; \
        if (accumulate) \
            for (int64_t i = 0; i < n; ++i) \
                out[i] += g[i] * ((T)(x[i] == ans[i]) * (one - half * (T)(x[i] == tie))); \
        else \
            for (int64_t i = 0; i < n; ++i) \
                out[i] = g[i] * ((T)(x[i] == ans[i]) * (one - half * (T)(x[i] == tie))); \
        return 0; \
    }
EXTREMUM_VJP(fa_extremum_vjp_f64, double)
EXTREMUM_VJP(fa_extremum_vjp_f32, float)
#undef EXTREMUM_VJP

FA_CLONES
int fa_array_scale_vjp(int divide, const double *a, const double *g, double *out, int64_t n,
                        int accumulate)
{
    if (divide && accumulate)
        for (int64_t i = 0; i < n; ++i) out[i] += g[i] / a[i];
    else if (divide)
        for (int64_t i = 0; i < n; ++i) out[i] = g[i] / a[i];
    else if (accumulate)
        for (int64_t i = 0; i < n; ++i) out[i] += g[i] * a[i];
    else
        for (int64_t i = 0; i < n; ++i) out[i] = g[i] * a[i];
    return 0;
}
