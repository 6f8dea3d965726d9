/* The scalar kernels: evaluation, replay, and the reverse and forward sweeps
 * of scalar nodes (see fastad_tape.h for the tape's layout).
 *
 * Each sweep runs from node `start` to `end` (the reverse ones backward) and
 * returns at the first FA_EXT node, whose array operation the Cython layer
 * handles before calling the sweep again past it.  fa_reverse carries one
 * adjoint a node and writes each opcode's derivative inline;
 * fa_tangent and fa_reverse_k carry k directions a node and share
 * `rule_factors`, the same expressions as factors to apply to each
 * direction (so all three round as the op table's rules do, and as a
 * recorded sweep of them does).  fa_replay recomputes the
 * primals at new leaves by threaded dispatch (one computed goto a node where
 * GCC and Clang allow it, a switch elsewhere) and reports the first
 * comparison whose outcome flips. */
#include "fastad_tape.h"
#include "fastad_math.h"

#include <math.h>
#include <string.h>

static FA_ALWAYS_INLINE double eval_unary(int opcode, double x)
{
    switch (opcode) {
    case FA_NEG: return -x;
    case FA_ABS: return fabs(x);
    case FA_SIGN: return sign_of(x);
    case FA_SQUARE: return x * x;
    case FA_SQRT: return sqrt(x);
    case FA_CBRT: return cbrt(x);
    case FA_RECIPROCAL: return 1.0 / x;
    case FA_EXP: return exp(x);
    case FA_EXP2: return exp2(x);
    case FA_EXPM1: return expm1(x);
    case FA_LOG: return log(x);
    case FA_LOG1P: return log1p(x);
    case FA_LOG2: return log2(x);
    case FA_LOG10: return log10(x);
    case FA_SIN: return sin(x);
    case FA_COS: return cos(x);
    case FA_TAN: return tan(x);
    case FA_ASIN: return asin(x);
    case FA_ACOS: return acos(x);
    case FA_ATAN: return atan(x);
    case FA_SINH: return sinh(x);
    case FA_COSH: return cosh(x);
    case FA_TANH: return tanh(x);
    case FA_ASINH: return asinh(x);
    case FA_ACOSH: return acosh(x);
    case FA_ATANH: return atanh(x);
    default: return NAN;
    }
}

/* NumPy's maximum/minimum: a NaN operand wins. */
static inline double maximum(double x, double y)
{
    return (x >= y || isnan(x)) ? x : y;
}

static inline double minimum(double x, double y)
{
    return (x <= y || isnan(x)) ? x : y;
}

static FA_ALWAYS_INLINE double eval_binary(int opcode, double x, double y)
{
    switch (opcode) {
    case FA_LT: return x < y;
    case FA_LE: return x <= y;
    case FA_GT: return x > y;
    case FA_GE: return x >= y;
    case FA_EQ: return x == y;
    case FA_NE: return x != y;
    case FA_ADD: case FA_ADDC: return x + y;
    case FA_SUB: return x - y;
    case FA_RSUBC: return y - x;
    case FA_MUL: case FA_MULC: return x * y;
    case FA_DIV: case FA_DIVC: return x / y;
    case FA_RDIVC: return y / x;
    case FA_POW: case FA_POWC: return pow(x, y);
    case FA_RPOWC: return pow(y, x);
    case FA_MAXIMUM: return maximum(x, y);
    case FA_MINIMUM: return minimum(x, y);
    case FA_ATAN2: return atan2(x, y);
    case FA_HYPOT: return hypot(x, y);
    default: return NAN;
    }
}

double fa_eval_unary(int opcode, double x) { return eval_unary(opcode, x); }
double fa_eval_binary(int opcode, double x, double y) { return eval_binary(opcode, x, y); }

/* Partial derivatives of x ** y.  At y == 0 the power is constant in x and
 * at x == 0 (with the power defined) it is constant in y: both partials are
 * zero there, as in JAX, rather than 0 * inf = nan. */
static inline double pow_dx(double x, double y)
{
    return y == 0.0 ? 0.0 : y * pow(x, y - 1.0);
}

static inline double pow_dy(double x, double ans)
{
    return x == 0.0 ? 0.0 : log(x) * ans;
}

/* The rule of x ** c for a constant c applies (g * m) * p: the constant
 * folds into g first, as the array rule does (one pass over x). */
static inline void powc_factors(double x, double c, double *m, double *p)
{
    *p = 1.0;
    if (c == 2.0) {
        *m = 2.0;
        *p = x;
    } else if (c == 1.0 || c == 0.0) {
        *m = c;
    } else {
        *m = c;
        *p = pow(x, c - 1.0);
    }
}

/* maximum/minimum route the adjoint to the operand equal to the result, and
 * split it evenly on ties (as autograd and JAX do), so that maximum(x, x)
 * has derivative 1.  A NaN result routes nothing. */
static inline void extremum_reverse(double g, double x, double y, double ans,
                                    double *adj_x, double *adj_y)
{
    const double share = (x == y) ? 0.5 : 1.0;
    if (x == ans)
        *adj_x += g * share;
    if (y == ans)
        *adj_y += g * share;
}

/* The scalar opcodes by kind, for fa_replay's handlers: each calls
 * eval_unary/eval_binary with a constant opcode, which the compiler folds
 * to that opcode's expression. */
#define FA_COMPARISONS(X) X(FA_LT) X(FA_LE) X(FA_GT) X(FA_GE) X(FA_EQ) X(FA_NE)
#define FA_BINARIES(X) X(FA_ADD) X(FA_SUB) X(FA_MUL) X(FA_DIV) X(FA_POW) X(FA_MAXIMUM) \
    X(FA_MINIMUM) X(FA_ATAN2) X(FA_HYPOT)
#define FA_CONST_BINARIES(X) X(FA_ADDC) X(FA_RSUBC) X(FA_MULC) X(FA_DIVC) X(FA_RDIVC) \
    X(FA_POWC) X(FA_RPOWC)
#define FA_UNARIES(X) X(FA_NEG) X(FA_ABS) X(FA_SIGN) X(FA_SQUARE) X(FA_SQRT) X(FA_CBRT) \
    X(FA_RECIPROCAL) X(FA_EXP) X(FA_EXP2) X(FA_EXPM1) X(FA_LOG) X(FA_LOG1P) X(FA_LOG2) \
    X(FA_LOG10) X(FA_SIN) X(FA_COS) X(FA_TAN) X(FA_ASIN) X(FA_ACOS) X(FA_ATAN) X(FA_SINH) \
    X(FA_COSH) X(FA_TANH) X(FA_ASINH) X(FA_ACOSH) X(FA_ATANH)

/* GCC would merge the handlers' identical dispatch tails into one shared
 * jump (cross-jumping), which undoes threaded dispatch: 6.8 us against 11.8
 * for W2's replay with it off. */
#if defined(FA_GNU_C) && !defined(__clang__)
__attribute__((optimize("no-crossjumping")))
#endif
int64_t fa_replay(fa_tape *tape, int64_t start, int64_t end, int64_t *flipped)
{
    const uint8_t *opcode = tape->opcode;
    const int32_t *operand0 = tape->operand0;
    const int32_t *operand1 = tape->operand1;
    double *primal = tape->primal;
    const double *constants = tape->constants;
    const fa_source *sources = tape->sources;
    *flipped = -1;
    int64_t i = start;
    int32_t a, b;
    if (i >= end)
        return end;
#define COMPARISON_BODY(OP) \
    if (eval_binary(OP, primal[a], primal[b]) != primal[i]) { \
        *flipped = i; \
        return i; \
    }
#define BINARY_BODY(OP) primal[i] = eval_binary(OP, primal[a], primal[b]);
#define CONST_BINARY_BODY(OP) primal[i] = eval_binary(OP, primal[a], constants[b]);
#define UNARY_BODY(OP) primal[i] = eval_unary(OP, primal[a]);
#if defined(FA_GNU_C)
    /* Threaded dispatch: every handler ends in its own indirect jump to the
     * next node's handler, which the branch predictor learns per opcode
     * pair. */
#define LABEL(OP) [OP] = &&replay_##OP,
    static const void *const handler[FA_N_OPCODES] = {
        [FA_LEAF] = &&replay_leaf, [FA_EXT] = &&replay_ext, [FA_ELEM] = &&replay_elem,
        FA_COMPARISONS(LABEL) FA_BINARIES(LABEL) FA_CONST_BINARIES(LABEL) FA_UNARIES(LABEL)
    };
#undef LABEL
#define NEXT() \
    do { \
        if (++i >= end) \
            return end; \
        a = operand0[i]; \
        b = operand1[i]; \
        goto *handler[opcode[i]]; \
    } while (0)
    a = operand0[i];
    b = operand1[i];
    goto *handler[opcode[i]];
replay_ext:
    return i;
replay_leaf: /* leaves keep the values the caller wrote */
    NEXT();
replay_elem:
    primal[i] = sources[a].data[b];
    NEXT();
#define COMPARISON(OP) replay_##OP: COMPARISON_BODY(OP) NEXT();
#define BINARY(OP) replay_##OP: BINARY_BODY(OP) NEXT();
#define CONST_BINARY(OP) replay_##OP: CONST_BINARY_BODY(OP) NEXT();
#define UNARY(OP) replay_##OP: UNARY_BODY(OP) NEXT();
    FA_COMPARISONS(COMPARISON)
    FA_BINARIES(BINARY)
    FA_CONST_BINARIES(CONST_BINARY)
    FA_UNARIES(UNARY)
#undef NEXT
#else
    for (; i < end; ++i) {
        a = operand0[i];
        b = operand1[i];
        switch (opcode[i]) {
        case FA_EXT:
            return i;
        case FA_ELEM:
            primal[i] = sources[a].data[b];
            break;
#define COMPARISON(OP) case OP: COMPARISON_BODY(OP) break;
#define BINARY(OP) case OP: BINARY_BODY(OP) break;
#define CONST_BINARY(OP) case OP: CONST_BINARY_BODY(OP) break;
#define UNARY(OP) case OP: UNARY_BODY(OP) break;
        FA_COMPARISONS(COMPARISON)
        FA_BINARIES(BINARY)
        FA_CONST_BINARIES(CONST_BINARY)
        FA_UNARIES(UNARY)
        default: /* leaves keep the values the caller wrote */
            break;
        }
    }
    return end;
#endif
#undef COMPARISON
#undef BINARY
#undef CONST_BINARY
#undef UNARY
#undef COMPARISON_BODY
#undef BINARY_BODY
#undef CONST_BINARY_BODY
#undef UNARY_BODY
}

/* A partial derivative times an adjoint, where a zero adjoint means "not
 * reached from the outputs": the product is 0 then even where the partial
 * is infinite or NaN (an unused sqrt(x) at x = 0), as when the node is left
 * out of the chain rule altogether.  A zero factor gives +0; every other
 * product is the rule's ((g * m) * p) / q (see rule_factors). */
static inline double times(double m, double p, double q, double g)
{
    return g == 0.0 ? 0.0 : ((g * m) * p) / q;
}

/* A partial derivative times an operand's tangent in the forward sweep.  An
 * operand that is a leaf (an input or a constant) or an element of an input,
 * with a zero tangent in this direction, is left out of the chain rule, as
 * JAX leaves out its symbolic zeros: the partial of the constant 1 in
 * arctan2(1, y) is NaN at y = inf, and the tangent must still be 0.  A zero
 * tangent of any other node is a number like any other (0 * inf = NaN where
 * the primal itself is NaN), so that scalar and array nodes agree. */
static inline double tangent_term(double m, double p, double q, double t, int leaf)
{
    return leaf && t == 0.0 ? 0.0 : ((t * m) * p) / q;
}

/* tangent_term where p = q = 1 (every opcode but those that divide and
 * x ** c): the same bits, ((t * m) * 1) / 1 being t * m exactly. */
static inline double product_term(double m, double t, int leaf)
{
    return leaf && t == 0.0 ? 0.0 : t * m;
}

static inline int is_leaf(const fa_tape *tape, int64_t node)
{
    return tape->opcode[node] == FA_LEAF || tape->opcode[node] == FA_ELEM;
}

int64_t fa_reverse(const fa_tape *tape, double *adj, int64_t start, int64_t end)
{
    const uint8_t *opcode = tape->opcode;
    const int32_t *operand0 = tape->operand0;
    const int32_t *operand1 = tape->operand1;
    const double *primal = tape->primal;
    const double *constants = tape->constants;

    for (int64_t i = end - 1; i >= start; --i) {
        const double g = adj[i];
        /* A node nothing downstream reads adds nothing: not 0 * inf = NaN
         * through an infinite partial (see times). */
        if (g == 0.0 && opcode[i] != FA_EXT)
            continue;
        const int32_t a = operand0[i];
        const int32_t b = operand1[i];
        const double y = primal[i];
        switch (opcode[i]) {
        case FA_EXT:
            return i;
        case FA_ELEM: tape->source_adjoint[tape->sources[a].offset + b] += g; break;
        case FA_ADD: adj[a] += g; adj[b] += g; break;
        case FA_SUB: adj[a] += g; adj[b] -= g; break;
        case FA_MUL: adj[a] += g * primal[b]; adj[b] += g * primal[a]; break;
        case FA_DIV: {
            const double d = primal[b];
            adj[a] += g / d;
            adj[b] -= g * y / d;
        } break;
        case FA_POW:
            adj[a] += g * pow_dx(primal[a], primal[b]);
            adj[b] += g * pow_dy(primal[a], y);
            break;
        case FA_MAXIMUM: case FA_MINIMUM:
            extremum_reverse(g, primal[a], primal[b], y, &adj[a], &adj[b]);
            break;
        case FA_ATAN2: {
            const double u = primal[a], v = primal[b];
            const double r = u * u + v * v;
            adj[a] += g * v / r;
            adj[b] -= g * u / r;
        } break;
        case FA_HYPOT:
            adj[a] += g * primal[a] / y;
            adj[b] += g * primal[b] / y;
            break;
        case FA_ADDC: adj[a] += g; break;
        case FA_RSUBC: adj[a] -= g; break;
        case FA_MULC: adj[a] += g * constants[b]; break;
        case FA_DIVC: adj[a] += g / constants[b]; break;
        case FA_RDIVC: adj[a] -= g * y / primal[a]; break;
        case FA_POWC: {
            double m, p;
            powc_factors(primal[a], constants[b], &m, &p);
            adj[a] += (g * m) * p;
        } break;
        case FA_RPOWC: adj[a] += g * pow_dy(constants[b], y); break;
        case FA_NEG: adj[a] -= g; break;
        case FA_ABS: adj[a] += g * sign_of(primal[a]); break;
        case FA_SQUARE: adj[a] += g * (2.0 * primal[a]); break;
        case FA_SQRT: adj[a] += g * (0.5 / y); break;
        case FA_CBRT: adj[a] += g / (3.0 * y * y); break;
        case FA_RECIPROCAL: adj[a] -= g * (y * y); break;
        case FA_EXP: adj[a] += g * y; break;
        case FA_EXP2: adj[a] += g * (y * LN2); break;
        case FA_EXPM1: adj[a] += g * (y + 1.0); break;
        case FA_LOG: adj[a] += g / primal[a]; break;
        case FA_LOG1P: adj[a] += g / (1.0 + primal[a]); break;
        case FA_LOG2: adj[a] += g / (primal[a] * LN2); break;
        case FA_LOG10: adj[a] += g / (primal[a] * LN10); break;
        case FA_SIN: adj[a] += g * cos(primal[a]); break;
        case FA_COS: adj[a] -= g * sin(primal[a]); break;
        case FA_TAN: adj[a] += g * (1.0 + y * y); break;
        case FA_ASIN: { const double x = primal[a]; adj[a] += g / sqrt((1.0 - x) * (1.0 + x)); } break;
        case FA_ACOS: { const double x = primal[a]; adj[a] -= g / sqrt((1.0 - x) * (1.0 + x)); } break;
        case FA_ATAN: { const double x = primal[a]; adj[a] += g / (1.0 + x * x); } break;
        case FA_SINH: adj[a] += g * cosh(primal[a]); break;
        case FA_COSH: adj[a] += g * sinh(primal[a]); break;
        case FA_TANH: adj[a] += g * (1.0 - y * y); break;
        case FA_ASINH: { const double x = primal[a]; adj[a] += g / sqrt(x * x + 1.0); } break;
        case FA_ACOSH: { const double x = primal[a]; adj[a] += g / sqrt((x - 1.0) * (x + 1.0)); } break;
        case FA_ATANH: { const double x = primal[a]; adj[a] += g / ((1.0 - x) * (1.0 + x)); } break;
        default: /* leaves, comparisons and sign carry no derivative */
            break;
        }
    }
    return start - 1;
}

/* The derivative of scalar node i as the op table's rules apply it to a
 * cotangent or tangent g (ops/elementwise.py, the expressions fa_reverse
 * writes out): (g * m0) / q0 for operand0 and (g * m1) / q1 for operand1,
 * with m = 1 where a rule only divides and q = 1 where it only multiplies
 * (both exact), so that the sweeps carrying k directions round as the
 * rules do, and a tangent or Jacobian equals the one a recorded (nested)
 * sweep computes, bit for bit.  Zero m for a constant or missing operand.
 * x ** c applies ((g * m0) * p0) / q0 (see powc_factors); p0 is 1 (exact)
 * for every other opcode. */
typedef struct {
    double m0, p0, q0, m1, q1;
} factors;

static inline factors rule_factors(const fa_tape *tape, int64_t i)
{
    const int32_t a = tape->operand0[i], b = tape->operand1[i];
    const double *primal = tape->primal;
    const double y = primal[i];
    double x, v, c;
    factors f = {0.0, 1.0, 1.0, 0.0, 1.0};
    switch (tape->opcode[i]) {
    case FA_ADD: f.m0 = 1.0; f.m1 = 1.0; break;
    case FA_SUB: f.m0 = 1.0; f.m1 = -1.0; break;
    case FA_MUL: f.m0 = primal[b]; f.m1 = primal[a]; break;
    case FA_DIV: f.m0 = 1.0; f.q0 = primal[b]; f.m1 = -y; f.q1 = primal[b]; break;
    case FA_POW: f.m0 = pow_dx(primal[a], primal[b]); f.m1 = pow_dy(primal[a], y); break;
    case FA_MAXIMUM: case FA_MINIMUM:
        extremum_reverse(1.0, primal[a], primal[b], y, &f.m0, &f.m1);
        break;
    case FA_ATAN2:
        x = primal[a]; v = primal[b];
        f.m0 = v; f.q0 = x * x + v * v;
        f.m1 = -x; f.q1 = f.q0;
        break;
    case FA_HYPOT: f.m0 = primal[a]; f.q0 = y; f.m1 = primal[b]; f.q1 = y; break;
    case FA_ADDC: f.m0 = 1.0; break;
    case FA_RSUBC: f.m0 = -1.0; break;
    case FA_MULC: f.m0 = tape->constants[b]; break;
    case FA_DIVC: f.m0 = 1.0; f.q0 = tape->constants[b]; break;
    case FA_RDIVC: f.m0 = -y; f.q0 = primal[a]; break;
    case FA_POWC: powc_factors(primal[a], tape->constants[b], &f.m0, &f.p0); break;
    case FA_RPOWC: c = tape->constants[b]; f.m0 = pow_dy(c, y); break;
    case FA_NEG: f.m0 = -1.0; break;
    case FA_ABS: f.m0 = sign_of(primal[a]); break;
    case FA_SQUARE: f.m0 = 2.0 * primal[a]; break;
    case FA_SQRT: f.m0 = 0.5 / y; break;
    case FA_CBRT: f.m0 = 1.0; f.q0 = 3.0 * y * y; break;
    case FA_RECIPROCAL: f.m0 = -(y * y); break;
    case FA_EXP: f.m0 = y; break;
    case FA_EXP2: f.m0 = y * LN2; break;
    case FA_EXPM1: f.m0 = y + 1.0; break;
    case FA_LOG: f.m0 = 1.0; f.q0 = primal[a]; break;
    case FA_LOG1P: f.m0 = 1.0; f.q0 = 1.0 + primal[a]; break;
    case FA_LOG2: f.m0 = 1.0; f.q0 = primal[a] * LN2; break;
    case FA_LOG10: f.m0 = 1.0; f.q0 = primal[a] * LN10; break;
    case FA_SIN: f.m0 = cos(primal[a]); break;
    case FA_COS: f.m0 = -sin(primal[a]); break;
    case FA_TAN: f.m0 = 1.0 + y * y; break;
    case FA_ASIN: x = primal[a]; f.m0 = 1.0; f.q0 = sqrt((1.0 - x) * (1.0 + x)); break;
    case FA_ACOS: x = primal[a]; f.m0 = -1.0; f.q0 = sqrt((1.0 - x) * (1.0 + x)); break;
    case FA_ATAN: x = primal[a]; f.m0 = 1.0; f.q0 = 1.0 + x * x; break;
    case FA_SINH: f.m0 = cosh(primal[a]); break;
    case FA_COSH: f.m0 = sinh(primal[a]); break;
    case FA_TANH: f.m0 = 1.0 - y * y; break;
    case FA_ASINH: x = primal[a]; f.m0 = 1.0; f.q0 = sqrt(x * x + 1.0); break;
    case FA_ACOSH: x = primal[a]; f.m0 = 1.0; f.q0 = sqrt((x - 1.0) * (x + 1.0)); break;
    case FA_ATANH: x = primal[a]; f.m0 = 1.0; f.q0 = (1.0 - x) * (1.0 + x); break;
    default: break; /* comparisons and sign: zero */
    }
    return f;
}

/* fa_tangent's sweep, inlined with k a constant where it is small (a jvp,
 * a Hessian's few colours): the loops over directions unrolled. */
static FA_ALWAYS_INLINE int64_t tangent_k(const fa_tape *tape, double *tangent, const int64_t k,
                                          int64_t start, int64_t end)
{
    for (int64_t i = start; i < end; ++i) {
        const uint8_t op = tape->opcode[i];
        if (op == FA_EXT)
            return i;
        if (op == FA_LEAF)
            continue;
        double *out = tangent + i * k;
        if (op == FA_ELEM) {
            const double *source = tape->source_tangent;
            const int64_t at = (tape->sources[tape->operand0[i]].offset + tape->operand1[i]) * k;
            for (int64_t j = 0; j < k; ++j)
                out[j] = source != NULL ? source[at + j] : 0.0;
            continue;
        }
        const int32_t a = tape->operand0[i], b = tape->operand1[i];
        const double *ta = tangent + (int64_t)a * k;
        const int leaf_a = is_leaf(tape, a);
        /* The commonest opcodes first, without rule_factors' call and
         * divisions: its factors for them, m0 and m1 with p = q = 1. */
        switch (op) {
        case FA_ADD: case FA_SUB: case FA_MUL: {
            const double *tb = tangent + (int64_t)b * k;
            const int leaf_b = is_leaf(tape, b);
            const double m0 = op == FA_MUL ? tape->primal[b] : 1.0;
            const double m1 = op == FA_MUL ? tape->primal[a] : op == FA_SUB ? -1.0 : 1.0;
            if (leaf_a || leaf_b)
                for (int64_t j = 0; j < k; ++j)
                    out[j] = product_term(m0, ta[j], leaf_a) + product_term(m1, tb[j], leaf_b);
            else
                for (int64_t j = 0; j < k; ++j)
                    out[j] = ta[j] * m0 + tb[j] * m1;
            continue;
        }
        case FA_ADDC: case FA_RSUBC: case FA_MULC: case FA_NEG: case FA_SQUARE: {
            const double m0 = op == FA_MULC ? tape->constants[b]
                              : op == FA_SQUARE ? 2.0 * tape->primal[a]
                              : op == FA_ADDC ? 1.0 : -1.0;
            if (leaf_a)
                for (int64_t j = 0; j < k; ++j)
                    out[j] = product_term(m0, ta[j], leaf_a);
            else
                for (int64_t j = 0; j < k; ++j)
                    out[j] = ta[j] * m0;
            continue;
        }
        default:
            break;
        }
        const factors f = rule_factors(tape, i);
        if (FA_IS_BINARY(op)) {
            const double *tb = tangent + (int64_t)b * k;
            const int leaf_b = is_leaf(tape, b);
            for (int64_t j = 0; j < k; ++j)
                out[j] = tangent_term(f.m0, f.p0, f.q0, ta[j], leaf_a)
                         + tangent_term(f.m1, 1.0, f.q1, tb[j], leaf_b);
        } else if (FA_IS_COMPARISON(op) || op == FA_SIGN) {
            for (int64_t j = 0; j < k; ++j)
                out[j] = 0.0;
        } else {
            for (int64_t j = 0; j < k; ++j)
                out[j] = tangent_term(f.m0, f.p0, f.q0, ta[j], leaf_a);
        }
    }
    return end;
}

int64_t fa_tangent(const fa_tape *tape, double *tangent, int64_t k,
                   int64_t start, int64_t end)
{
    switch (k) {
    case 1: return tangent_k(tape, tangent, 1, start, end);
    case 2: return tangent_k(tape, tangent, 2, start, end);
    case 3: return tangent_k(tape, tangent, 3, start, end);
    case 4: return tangent_k(tape, tangent, 4, start, end);
    default: return tangent_k(tape, tangent, k, start, end);
    }
}

void fa_tangent_clear(const fa_tape *tape, double *tangent, int64_t k, int64_t start)
{
    memset(tangent, 0, (size_t)(start * k) * sizeof(double));
    for (int64_t i = start; i < tape->size; ++i)
        if (tape->opcode[i] == FA_LEAF || tape->opcode[i] == FA_EXT)
            for (int64_t j = 0; j < k; ++j)
                tangent[i * k + j] = 0.0;
}

int64_t fa_reverse_k(const fa_tape *tape, double *adjoint, int64_t k, int64_t start,
                     int64_t end)
{
    for (int64_t i = end - 1; i >= start; --i) {
        const uint8_t op = tape->opcode[i];
        if (op == FA_EXT)
            return i;
        if (op == FA_LEAF || FA_IS_COMPARISON(op) || op == FA_SIGN)
            continue;
        if (op == FA_ELEM) {
            const fa_source *source = &tape->sources[tape->operand0[i]];
            double *out = tape->source_adjoint + (source->offset + tape->operand1[i]) * k;
            const double *g = adjoint + i * k;
            for (int64_t j = 0; j < k; ++j)
                out[j] += g[j];
            continue;
        }
        const factors f = rule_factors(tape, i);
        const double *g = adjoint + i * k;
        double *ga = adjoint + (int64_t)tape->operand0[i] * k;
        if (FA_IS_BINARY(op)) {
            double *gb = adjoint + (int64_t)tape->operand1[i] * k;
            for (int64_t j = 0; j < k; ++j) {
                const double gj = g[j]; /* read first: an operand may be this node's own row */
                ga[j] += times(f.m0, f.p0, f.q0, gj);
                gb[j] += times(f.m1, 1.0, f.q1, gj);
            }
        } else {
            for (int64_t j = 0; j < k; ++j)
                ga[j] += times(f.m0, f.p0, f.q0, g[j]);
        }
    }
    return start - 1;
}
