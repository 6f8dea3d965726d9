/* Fused elementwise programs: several elementwise operations on float64
 * arrays evaluated, and swept backward or forward, in one pass over blocks of
 * FA_BLOCK elements, so that the intermediate arrays live in a few kilobytes
 * of cache instead of memory, and a chain of operations costs one call
 * instead of one per operation (see fa_fop in fastad_tape.h).
 *
 * Register r < n_leaves is leaf r (an input array, read in place); register
 * n_leaves + j holds instruction j's result for the current block.  The
 * program is in evaluation order; its last instruction is the result.
 *
 * Arithmetic is written here; the other functions (exp, tanh, maximum ...)
 * call the inner loop NumPy's ufunc runs, which the caller supplies, on the
 * block: the values are NumPy's to the bit on every machine (its loops pick
 * SIMD code at run time, which libm's functions would not match).  The
 * derivatives are the expressions of the array rules of
 * fastad/ops/elementwise.py, in their order of operations.
 */
#include <fenv.h>
#include <math.h>
#include <string.h>

#include "fastad_tape.h"
#include "fastad_math.h"

#define FA_BLOCK 128  /* NumPy's pairwise-summation block: see fa_fused_sum */

static inline const double *fused_operand(int32_t reg, int32_t n_leaves,
                                          const double *const *leaves, int64_t start,
                                          const double *const *rows)
{
    return reg < n_leaves ? leaves[reg] + start : rows[reg - n_leaves];
}

/* The scratch memory of every entry point (fa_fused_scratch doubles):
 * values (n_code rows of FA_BLOCK), the instructions' adjoints or tangents
 * (n_code rows), the uniform cotangent, a row for adjoints not wanted, a
 * row for the auxiliary function, the block's row pointers (n_code), then
 * flags. */
static inline const double **scratch_rows(double *scratch, int32_t n_code)
{
    return (const double **)(void *)(scratch + (int64_t)(2 * n_code + 3) * FA_BLOCK);
}

static inline void call_unary(fa_loop loop, void *data, const double *x, double *y, int64_t m)
{
    char *args[2] = {(char *)(uintptr_t)x, (char *)y};
    const intptr_t dimensions[1] = {(intptr_t)m};
    const intptr_t steps[2] = {(intptr_t)sizeof(double), (intptr_t)sizeof(double)};
    loop(args, dimensions, steps, data);
}

/* loop(a, b) with b a row, or (step 0) the one constant *b */
static inline void call_binary(fa_loop loop, void *data, const double *a, const double *b,
                               int row, double *y, int64_t m)
{
    char *args[3] = {(char *)(uintptr_t)a, (char *)(uintptr_t)b, (char *)y};
    const intptr_t dimensions[1] = {(intptr_t)m};
    const intptr_t steps[3] = {(intptr_t)sizeof(double), row ? (intptr_t)sizeof(double) : 0,
                               (intptr_t)sizeof(double)};
    loop(args, dimensions, steps, data);
}

/* the opcodes through which no derivative flows: sign and the comparisons
 * (1.0 or 0.0), which programs of derivatives read (abs's sign, the shares
 * of maximum and minimum) */
static inline int constant_piecewise(int32_t op)
{
    return op == FA_SIGN || FA_IS_COMPARISON(op);
}

/* the opcodes whose derivative reads a second function of the operand */
static inline int needs_aux(int32_t op)
{
    return op == FA_SIN || op == FA_COS || op == FA_SINH || op == FA_COSH;
}

/* Evaluate the program on elements [start, start + m), m <= FA_BLOCK:
 * instruction j's values go to `values` row j or, where kept[j] is given (a
 * function's results, kept between the evaluation and the sweeps as the
 * unfused operation keeps its array), to kept[j] + start, where with
 * `kept_valid` an earlier evaluation left them.  rows[j] is set to where
 * they are; the result row is returned. */
static FA_ALWAYS_INLINE const double *
fused_block(const fa_fop *code, int32_t n_code, int32_t n_leaves, const double *const *leaves,
            int64_t start, int64_t m, double *values, const double **rows,
            double *const *kept, int kept_valid)
{
    for (int32_t j = 0; j < n_code; ++j) {
        const fa_fop *f = &code[j];
        const int is_kept = kept != NULL && kept[j] != NULL;
        /* (r is never an operand's row: restrict lets the loops vectorize
         * without run-time overlap checks) */
        double *FA_RESTRICT r = is_kept ? kept[j] + start : values + (int64_t)j * FA_BLOCK;
        rows[j] = r;
        if (is_kept && kept_valid)
            continue;
        const double *a = fused_operand(f->a, n_leaves, leaves, start, rows);
        const double *b = f->b >= 0 ? fused_operand(f->b, n_leaves, leaves, start, rows) : a;
        const double c = f->c;
        /* the operations of NumPy's ufuncs, element by element (x - c is
         * stored as x + (-c), which IEEE arithmetic rounds identically) */
        switch (f->op) {
        case FA_ADD: for (int64_t i = 0; i < m; ++i) r[i] = a[i] + b[i]; break;
        case FA_SUB: for (int64_t i = 0; i < m; ++i) r[i] = a[i] - b[i]; break;
        case FA_MUL: for (int64_t i = 0; i < m; ++i) r[i] = a[i] * b[i]; break;
        case FA_DIV: for (int64_t i = 0; i < m; ++i) r[i] = a[i] / b[i]; break;
        case FA_ADDC: for (int64_t i = 0; i < m; ++i) r[i] = a[i] + c; break;
        case FA_RSUBC: for (int64_t i = 0; i < m; ++i) r[i] = c - a[i]; break;
        case FA_MULC: for (int64_t i = 0; i < m; ++i) r[i] = a[i] * c; break;
        case FA_DIVC: for (int64_t i = 0; i < m; ++i) r[i] = a[i] / c; break;
        case FA_RDIVC: for (int64_t i = 0; i < m; ++i) r[i] = c / a[i]; break;
        case FA_NEG: for (int64_t i = 0; i < m; ++i) r[i] = -a[i]; break;
        case FA_SQUARE: for (int64_t i = 0; i < m; ++i) r[i] = a[i] * a[i]; break;
        case FA_SQRT: for (int64_t i = 0; i < m; ++i) r[i] = sqrt(a[i]); break;
        case FA_MAXIMUM: case FA_MINIMUM:
            call_binary(f->loop, f->loop_data, a, f->b >= 0 ? b : &f->c, f->b >= 0, r, m);
            break;
        case FA_SIGN: for (int64_t i = 0; i < m; ++i) r[i] = sign_of(a[i]); break;
#define COMPARE(OP) \
    if (f->b >= 0) for (int64_t i = 0; i < m; ++i) r[i] = (double)(a[i] OP b[i]); \
    else for (int64_t i = 0; i < m; ++i) r[i] = (double)(a[i] OP c); \
    break;
        case FA_LT: COMPARE(<)
        case FA_LE: COMPARE(<=)
        case FA_GT: COMPARE(>)
        case FA_GE: COMPARE(>=)
        case FA_EQ: COMPARE(==)
        case FA_NE: COMPARE(!=)
#undef COMPARE
        default:
            if (!FA_IS_UNARY(f->op) || f->loop == NULL)
                return NULL;
            call_unary(f->loop, f->loop_data, a, r, m);
        }
    }
    return rows[n_code - 1];
}

int fa_fused_check(const fa_fop *code, int32_t n_code, int32_t n_leaves)
{
    if (n_code < 1 || n_leaves < 0)
        return -1;
    for (int32_t j = 0; j < n_code; ++j) {
        const fa_fop *f = &code[j];
        const int32_t defined = n_leaves + j;  /* registers an instruction may read */
        switch (f->op) {
        case FA_ADD: case FA_SUB: case FA_MUL: case FA_DIV:
            if (f->b < 0 || f->b >= defined)
                return -1;
            break;
        case FA_ADDC: case FA_RSUBC: case FA_MULC: case FA_DIVC: case FA_RDIVC:
        case FA_NEG: case FA_SQUARE: case FA_SQRT:
            if (f->b != -1)
                return -1;
            break;
        case FA_MAXIMUM: case FA_MINIMUM:
            if (f->b < -1 || f->b >= defined || f->loop == NULL)
                return -1;
            break;
        case FA_SIGN:
            if (f->b != -1)
                return -1;
            break;
        case FA_LT: case FA_LE: case FA_GT: case FA_GE: case FA_EQ: case FA_NE:
            if (f->b < -1 || f->b >= defined)
                return -1;
            break;
        default:
            if (!FA_IS_UNARY(f->op) || f->b != -1 || f->loop == NULL
                    || (needs_aux(f->op) && f->aux == NULL))
                return -1;
        }
        if (f->a < 0 || f->a >= defined)
            return -1;
    }
    /* every register but the result must be read by a later instruction:
     * the reverse sweep stores an operand's first contribution instead of
     * clearing its row, so an unread register would leave its row unset */
    for (int32_t r = 0; r < n_leaves + n_code - 1; ++r) {
        int read = 0;
        for (int32_t j = r < n_leaves ? 0 : r - n_leaves + 1; j < n_code && !read; ++j)
            read = code[j].a == r || code[j].b == r;
        if (!read)
            return -1;
    }
    return 0;
}

/* The IEEE exceptions raised since fp_clear, as FA_FP_* bits: NumPy's ufuncs
 * report them by its error state (a warning by default), and the callers do
 * the same.  (The evaluation lies in this file and the calls to fenv
 * functions are opaque to the compiler, so no arithmetic moves across them.) */
static void fp_clear(void)
{
    feclearexcept(FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID);
}

static int fp_raised(void)
{
    const int raised = fetestexcept(FE_DIVBYZERO | FE_OVERFLOW | FE_UNDERFLOW | FE_INVALID);
    return (raised & FE_DIVBYZERO ? FA_FP_DIVIDE : 0) | (raised & FE_OVERFLOW ? FA_FP_OVER : 0)
           | (raised & FE_UNDERFLOW ? FA_FP_UNDER : 0) | (raised & FE_INVALID ? FA_FP_INVALID : 0);
}

FA_CLONES
int fa_fused_eval(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                  const double *const *leaves, int64_t n, double *out, double *const *kept,
                  double *scratch)
{
    const double **rows = scratch_rows(scratch, n_code);
    fp_clear();
    for (int64_t start = 0; start < n; start += FA_BLOCK) {
        const int64_t m = n - start < FA_BLOCK ? n - start : FA_BLOCK;
        const double *r = fused_block(code, n_code, n_leaves, leaves, start, m, scratch, rows,
                                      kept, 0);
        if (r == NULL)
            return -1;
        if (r != out + start)
            memcpy(out + start, r, (size_t)m * sizeof(double));
    }
    return fp_raised();
}

/* The local derivative of instruction f for its operand a (second: b) at
 * one element, where it is not arithmetic on the values alone: the share of
 * maximum/minimum, 1 where the operand is the result, 1/2 on a tie (the
 * rule of fastad/ops/elementwise.py: a NaN result routes nothing). */
static inline double extremum_share(double x, double y, double other)
{
    return (double)(x == y) / (1.0 + (double)(x == other));
}

/* g times the derivative of unary instruction op at one element (a the
 * operand, y the value, aux the auxiliary function's value): the rules'
 * expressions, in their order of operations.  The tangent rules are the
 * same expressions with t for g. */
#define UNARY_RULE(op, g, a, y, aux, out) \
    switch (op) { \
    case FA_NEG: case FA_RSUBC: out = -(g); break; \
    case FA_SQUARE: out = (g) * (2.0 * (a)); break; \
    case FA_SQRT: out = (g) * (0.5 / (y)); break; \
    case FA_ABS: out = (g) * sign_of(a); break; \
    case FA_CBRT: out = (g) / (3.0 * (y) * (y)); break; \
    case FA_RECIPROCAL: out = -(g) * ((y) * (y)); break; \
    case FA_EXP: out = (g) * (y); break; \
    case FA_EXP2: out = (g) * ((y) * LN2); break; \
    case FA_EXPM1: out = (g) * ((y) + 1.0); break; \
    case FA_LOG: out = (g) / (a); break; \
    case FA_LOG1P: out = (g) / (1.0 + (a)); break; \
    case FA_LOG2: out = (g) / ((a) * LN2); break; \
    case FA_LOG10: out = (g) / ((a) * LN10); break; \
    case FA_SIN: case FA_SINH: case FA_COSH: out = (g) * (aux); break; \
    case FA_COS: out = -(g) * (aux); break; \
    case FA_TAN: out = (g) * (1.0 + (y) * (y)); break; \
    case FA_ASIN: out = (g) / sqrt((1.0 - (a)) * (1.0 + (a))); break; \
    case FA_ACOS: out = -(g) / sqrt((1.0 - (a)) * (1.0 + (a))); break; \
    case FA_ATAN: out = (g) / (1.0 + (a) * (a)); break; \
    case FA_TANH: out = (g) * (1.0 - (y) * (y)); break; \
    case FA_ASINH: out = (g) / sqrt((a) * (a) + 1.0); break; \
    case FA_ACOSH: out = (g) / sqrt(((a) - 1.0) * ((a) + 1.0)); break; \
    case FA_ATANH: out = (g) / ((1.0 - (a)) * (1.0 + (a))); break; \
    default: out = NAN; \
    }

/* The reverse sweep's working memory (in the caller's scratch: see
 * fa_fused_scratch): the instructions' adjoint rows, the uniform cotangent,
 * a row for leaves whose adjoint is not wanted, a row for the auxiliary
 * function, then flags.  No adjoint row is cleared: each operand's first
 * contribution in reverse order is stored, the later ones added (`first`,
 * worked out once per program by reverse_setup).  `reached` marks the
 * registers a cotangent reaches (through no sign or comparison): the
 * others' instructions are skipped, as the rules skip a node without an
 * adjoint, and a wanted leaf none reaches gets zeros. */
typedef struct {
    double *adjoint, *uniform, *discard, *aux;
    const double **rows;
    unsigned char *first, *reached;
} fused_reverse;

static void reverse_setup(fused_reverse *r, const fa_fop *code, int32_t n_code,
                          int32_t n_leaves, double *const *adjoints, const int *accumulate,
                          double *scratch, double g_scalar)
{
    r->adjoint = scratch + (int64_t)n_code * FA_BLOCK;
    r->uniform = r->adjoint + (int64_t)n_code * FA_BLOCK;
    r->discard = r->uniform + FA_BLOCK;
    r->aux = r->discard + FA_BLOCK;
    r->rows = scratch_rows(scratch, n_code);
    r->first = (unsigned char *)(r->rows + n_code);         /* 2 per instruction */
    unsigned char *seen = r->first + 2 * (int64_t)n_code;   /* 1 per register */
    const int32_t n_regs = n_leaves + n_code;
    for (int32_t q = 0; q < n_regs; ++q)
        seen[q] = q < n_leaves ? (adjoints[q] != NULL && accumulate != NULL && accumulate[q]) : 0;
    seen[n_regs - 1] = 1;
    for (int32_t j = n_code - 1; j >= 0; --j) {
        if (!seen[n_leaves + j] || constant_piecewise(code[j].op))
            continue;  /* (no cotangent reaches its operands through it) */
        r->first[2 * j] = !seen[code[j].a];
        seen[code[j].a] = 1;
        if (code[j].b >= 0) {
            r->first[2 * j + 1] = !seen[code[j].b];
            seen[code[j].b] = 1;
        }
    }
    for (int i = 0; i < FA_BLOCK; ++i)
        r->uniform[i] = g_scalar;
    r->reached = seen;
}

/* Sweep the block [start, start + m) backward from the result's cotangent
 * row g (its values already in `values`), writing or adding the leaves'
 * adjoints (adjoints[r] + start; NULL: not wanted). */
static FA_ALWAYS_INLINE void
reverse_block(const fa_fop *code, int32_t n_code, int32_t n_leaves, const double *const *leaves,
              int64_t start, int64_t m, const double *g, double *const *adjoints,
              int64_t adjoint_start, const fused_reverse *w)
{
    const double *const *rows = w->rows;
    double *const adjoint = w->adjoint, *const discard = w->discard, *const aux = w->aux;
    for (int32_t q = 0; q < n_leaves; ++q)
        if (!w->reached[q] && adjoints[q] != NULL)
            memset(adjoints[q] + adjoint_start, 0, (size_t)m * sizeof(double));
    for (int32_t j = n_code - 1; j >= 0; --j) {
        const fa_fop *f = &code[j];
        if (!w->reached[n_leaves + j] || constant_piecewise(f->op))
            continue;
        const double *gr = j == n_code - 1 ? g : adjoint + (int64_t)j * FA_BLOCK;
        const double *y = rows[j];
        const double *a = fused_operand(f->a, n_leaves, leaves, start, rows);
        const double *b = f->b >= 0 ? fused_operand(f->b, n_leaves, leaves, start, rows) : a;
        double *ga = f->a < n_leaves
                         ? (adjoints[f->a] != NULL ? adjoints[f->a] + adjoint_start : discard)
                         : adjoint + (int64_t)(f->a - n_leaves) * FA_BLOCK;
        double *gb = f->b < 0 ? ga
                     : f->b < n_leaves
                         ? (adjoints[f->b] != NULL ? adjoints[f->b] + adjoint_start : discard)
                         : adjoint + (int64_t)(f->b - n_leaves) * FA_BLOCK;
        const int fa = w->first[2 * j], fb = w->first[2 * j + 1];
        const double c = f->c;
        /* ga and gb may be one row (x * x): each in turn */
#define TO(target, isfirst, expr) \
    do { \
        if (isfirst) \
            for (int64_t i = 0; i < m; ++i) target[i] = (expr); \
        else \
            for (int64_t i = 0; i < m; ++i) target[i] += (expr); \
    } while (0)
        switch (f->op) {
        case FA_ADD: TO(ga, fa, gr[i]); TO(gb, fb, gr[i]); break;
        case FA_SUB: TO(ga, fa, gr[i]); TO(gb, fb, -gr[i]); break;
        case FA_MUL: TO(ga, fa, gr[i] * b[i]); TO(gb, fb, gr[i] * a[i]); break;
        case FA_DIV: TO(ga, fa, gr[i] / b[i]); TO(gb, fb, -gr[i] * y[i] / b[i]); break;
        case FA_ADDC: TO(ga, fa, gr[i]); break;
        case FA_RSUBC: case FA_NEG: TO(ga, fa, -gr[i]); break;
        case FA_MULC: TO(ga, fa, gr[i] * c); break;
        case FA_DIVC: TO(ga, fa, gr[i] / c); break;
        case FA_RDIVC: TO(ga, fa, -gr[i] * y[i] / a[i]); break;
        case FA_SQUARE: TO(ga, fa, gr[i] * (2.0 * a[i])); break;
        case FA_SQRT: TO(ga, fa, gr[i] * (0.5 / y[i])); break;
        case FA_EXP: TO(ga, fa, gr[i] * y[i]); break;
        case FA_MAXIMUM: case FA_MINIMUM:
            if (f->b < 0) {
                TO(ga, fa, gr[i] * extremum_share(a[i], y[i], c));
            } else {
                TO(ga, fa, gr[i] * extremum_share(a[i], y[i], b[i]));
                TO(gb, fb, gr[i] * extremum_share(b[i], y[i], a[i]));
            }
            break;
        default: {
            const int32_t op = f->op;
            if (needs_aux(op))
                call_unary(f->aux, f->aux_data, a, aux, m);
            double d;
            if (fa) {
                for (int64_t i = 0; i < m; ++i) {
                    UNARY_RULE(op, gr[i], a[i], y[i], aux[i], d);
                    ga[i] = d;
                }
            } else {
                for (int64_t i = 0; i < m; ++i) {
                    UNARY_RULE(op, gr[i], a[i], y[i], aux[i], d);
                    ga[i] += d;
                }
            }
        }
        }
#undef TO
    }
}

/* The leaves' rows of fa_fused_vjp and fa_fused_sum_vjp, after the flags
 * (see scratch_rows), then a pointer per leaf. */
static inline double *scratch_leaf_rows(double *scratch, int32_t n_code, int32_t n_leaves)
{
    return scratch + (int64_t)(2 * n_code + 3) * FA_BLOCK + n_code
           + (3 * (int64_t)n_code + n_leaves) / 8 + 1;
}

FA_CLONES
int fa_fused_vjp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                 const double *const *leaves, int64_t n, const double *g, double g_scalar,
                 double *const *adjoints, const int *accumulate, double *const *kept,
                 double *scratch)
{
    /* A leaf's cotangent is formed in a row of its own, block by block,
     * then added to its adjoint where that is to be accumulated (adjoint +
     * (c1 + c2), the order of a recorded sweep, which forms the cotangent
     * before adding it); written in place otherwise. */
    fused_reverse w;
    double *rows = scratch_leaf_rows(scratch, n_code, n_leaves);
    double **block = (double **)(void *)(rows + (int64_t)n_leaves * FA_BLOCK);
    reverse_setup(&w, code, n_code, n_leaves, adjoints, NULL, scratch, g_scalar);
    for (int64_t start = 0; start < n; start += FA_BLOCK) {
        const int64_t m = n - start < FA_BLOCK ? n - start : FA_BLOCK;
        if (fused_block(code, n_code, n_leaves, leaves, start, m, scratch, w.rows, kept, 1)
                == NULL)
            return -1;
        for (int32_t r = 0; r < n_leaves; ++r)
            block[r] = adjoints[r] == NULL ? NULL
                       : accumulate != NULL && accumulate[r] ? rows + (int64_t)r * FA_BLOCK
                       : adjoints[r] + start;
        reverse_block(code, n_code, n_leaves, leaves, start, m,
                      g != NULL ? g + start : w.uniform, block, 0, &w);
        for (int32_t r = 0; r < n_leaves; ++r) {
            if (adjoints[r] == NULL || accumulate == NULL || !accumulate[r] || !w.reached[r])
                continue;
            const double *d = block[r];
            double *out = adjoints[r] + start;
            for (int64_t i = 0; i < m; ++i)
                out[i] += d[i];
        }
    }
    return 0;
}

FA_CLONES
int fa_fused_sum_vjp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                     const double *const *leaves, int64_t n, double g,
                     double *const *adjoints, const int *accumulate, double *const *kept,
                     double *scratch)
{
    /* Each block swept backward for cotangent 1 into rows of its own, then
     * g times them stored or added: the numbers of fa_fused_sum_grad's
     * derivatives scaled by g afterwards, without forming them. */
    fused_reverse w;
    double *rows = scratch_leaf_rows(scratch, n_code, n_leaves);
    double **block = (double **)(void *)(rows + (int64_t)n_leaves * FA_BLOCK);
    for (int32_t r = 0; r < n_leaves; ++r)
        block[r] = adjoints[r] != NULL ? rows + (int64_t)r * FA_BLOCK : NULL;
    reverse_setup(&w, code, n_code, n_leaves, block, NULL, scratch, 1.0);
    for (int64_t start = 0; start < n; start += FA_BLOCK) {
        const int64_t m = n - start < FA_BLOCK ? n - start : FA_BLOCK;
        if (fused_block(code, n_code, n_leaves, leaves, start, m, scratch, w.rows, kept, 1)
                == NULL)
            return -1;
        reverse_block(code, n_code, n_leaves, leaves, start, m, w.uniform, block, 0, &w);
        for (int32_t r = 0; r < n_leaves; ++r) {
            if (block[r] == NULL)
                continue;
            const double *d = block[r];
            double *out = adjoints[r] + start;
            if (accumulate[r] && g == 1.0)
                for (int64_t i = 0; i < m; ++i) out[i] += d[i];
            else if (accumulate[r])
                for (int64_t i = 0; i < m; ++i) out[i] += g * d[i];
            else if (g == 1.0)
                for (int64_t i = 0; i < m; ++i) out[i] = d[i];
            else
                for (int64_t i = 0; i < m; ++i) out[i] = d[i] * g;
        }
    }
    return 0;
}

/* numpy.add.reduce of a contiguous float64 array, operation for operation
 * (numpy/_core/src/umath/loops_utils.h.src, pairwise_sum), over the
 * program's values computed a block at a time: the same rounding as
 * evaluating the array first and summing it with NumPy.  With `grads`, each
 * block is swept backward too, while its values are in cache: the leaves'
 * derivatives of the sum (cotangent 1). */
typedef struct {
    const fa_fop *code;
    int32_t n_code, n_leaves;
    const double *const *leaves;
    double *values;
    double *const *grads;       /* NULL: the sum only */
    const fused_reverse *reverse;
    int failed;
} fused_sum;

FA_CLONES
static double fused_pairwise(fused_sum *s, int64_t start, int64_t n)
{
    if (n > FA_BLOCK) {
        int64_t n2 = n / 2;
        n2 -= n2 % 8;
        return fused_pairwise(s, start, n2) + fused_pairwise(s, start + n2, n - n2);
    }
    const double *a = fused_block(s->code, s->n_code, s->n_leaves, s->leaves, start, n, s->values,
                                  scratch_rows(s->values, s->n_code), NULL, 0);
    if (a == NULL) {
        s->failed = 1;
        return 0.0;
    }
    if (s->grads != NULL)
        reverse_block(s->code, s->n_code, s->n_leaves, s->leaves, start, n,
                      s->reverse->uniform, s->grads, start, s->reverse);
    if (n < 8) {
        double res = -0.0;  /* (NumPy's start: it keeps a sum of -0.0 negative) */
        for (int64_t i = 0; i < n; ++i)
            res += a[i];
        return res;
    }
    double r[8];
    int64_t i;
    for (int k = 0; k < 8; ++k)
        r[k] = a[k];
    for (i = 8; i < n - (n % 8); i += 8)
        for (int k = 0; k < 8; ++k)
            r[k] += a[i + k];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i)
        res += a[i];
    return res;
}

static int sum_chunks(fused_sum *s, int64_t n, int64_t chunk, double *sum)
{
    fp_clear();
    /* NumPy starts the reduction from the identity: 0.0 + (-0.0) is 0.0.
     * NumPy >= 2.0 sums a contiguous array pairwise in one piece (chunk 0);
     * NumPy 1.x reduced it a buffer (chunk: numpy.getbufsize(), 8,192 by
     * default) at a time, adding each buffer's pairwise sum to the total. */
    const int64_t step = chunk > 0 ? chunk : n;
    double total = 0.0;
    for (int64_t start = 0; start < n && !s->failed; start += step)
        total += fused_pairwise(s, start, n - start < step ? n - start : step);
    *sum = total;
    return s->failed ? -1 : fp_raised();
}

int fa_fused_sum(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                 const double *const *leaves, int64_t n, int64_t chunk, double *sum,
                 double *scratch)
{
    fused_sum s = {code, n_code, n_leaves, leaves, scratch, NULL, NULL, 0};
    return sum_chunks(&s, n, chunk, sum);
}

int fa_fused_sum_grad(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                      const double *const *leaves, int64_t n, int64_t chunk, double *sum,
                      double *const *grads, double *scratch)
{
    fused_reverse w;
    reverse_setup(&w, code, n_code, n_leaves, grads, NULL, scratch, 1.0);
    fused_sum s = {code, n_code, n_leaves, leaves, scratch, grads, &w, 0};
    return sum_chunks(&s, n, chunk, sum);
}

/* Leaf r's tangent rows lie `strides[r]` doubles apart (n: back to back). */
static inline int64_t stride(const int64_t *strides, int32_t r, int64_t n)
{
    return strides == NULL ? n : strides[r];
}

int fa_fused_jvp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                 const double *const *leaves, int64_t n, const double *const *tangents,
                 int64_t k, double *out, double *const *kept, double *scratch)
{
    return fa_fused_jvp_strided(code, n_code, n_leaves, leaves, n, tangents, NULL, k, out, n,
                                kept, scratch);
}

FA_CLONES
int fa_fused_jvp_strided(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                         const double *const *leaves, int64_t n,
                         const double *const *tangents, const int64_t *strides, int64_t k,
                         double *out, int64_t out_stride, double *const *kept, double *scratch)
{
    /* scratch (see scratch_rows): the values, the instructions' tangents,
     * the auxiliary row, the rows, then a flag per register: whether a
     * tangent reaches it (an instruction none reaches is skipped, and its
     * operands' terms are left out as the rules leave out a parent without
     * a tangent). */
    double *values = scratch;
    double *tangent = scratch + (int64_t)n_code * FA_BLOCK;
    double *aux = scratch + (int64_t)(2 * n_code + 2) * FA_BLOCK;
    const double **rows = scratch_rows(scratch, n_code);
    unsigned char *has = (unsigned char *)(rows + n_code);
    for (int32_t r = 0; r < n_leaves; ++r)
        has[r] = tangents[r] != NULL;
    for (int32_t j = 0; j < n_code; ++j)
        has[n_leaves + j] = !constant_piecewise(code[j].op)
                            && (has[code[j].a] || (code[j].b >= 0 && has[code[j].b]));
    for (int64_t start = 0; start < n; start += FA_BLOCK) {
        const int64_t m = n - start < FA_BLOCK ? n - start : FA_BLOCK;
        if (fused_block(code, n_code, n_leaves, leaves, start, m, values, rows, kept, 1) == NULL)
            return -1;
        for (int64_t d = 0; d < k; ++d) {
            for (int32_t j = 0; j < n_code; ++j) {
                const fa_fop *f = &code[j];
                if (!has[n_leaves + j])
                    continue;
                double *r = j == n_code - 1 ? out + d * out_stride + start
                                            : tangent + (int64_t)j * FA_BLOCK;
                const double *y = rows[j];
                const double *a = fused_operand(f->a, n_leaves, leaves, start, rows);
                const double *b = f->b >= 0 ? fused_operand(f->b, n_leaves, leaves, start, rows)
                                            : a;
                const int ha = has[f->a], hb = f->b >= 0 && has[f->b];
                const double *ta =
                    !ha ? NULL
                    : f->a < n_leaves ? tangents[f->a] + d * stride(strides, f->a, n) + start
                                      : tangent + (int64_t)(f->a - n_leaves) * FA_BLOCK;
                const double *tb =
                    !hb ? NULL
                    : f->b < n_leaves ? tangents[f->b] + d * stride(strides, f->b, n) + start
                                      : tangent + (int64_t)(f->b - n_leaves) * FA_BLOCK;
                const double c = f->c;
                /* the JVP rules of fastad/ops/elementwise.py; of two
                 * operands, the first's term plus the second's */
                switch (f->op) {
                case FA_ADD:
                    if (ha && hb) for (int64_t i = 0; i < m; ++i) r[i] = ta[i] + tb[i];
                    else if (ha) for (int64_t i = 0; i < m; ++i) r[i] = ta[i];
                    else for (int64_t i = 0; i < m; ++i) r[i] = tb[i];
                    break;
                case FA_SUB:
                    if (ha && hb) for (int64_t i = 0; i < m; ++i) r[i] = ta[i] + -tb[i];
                    else if (ha) for (int64_t i = 0; i < m; ++i) r[i] = ta[i];
                    else for (int64_t i = 0; i < m; ++i) r[i] = -tb[i];
                    break;
                case FA_MUL:
                    if (ha && hb) for (int64_t i = 0; i < m; ++i) r[i] = ta[i] * b[i] + a[i] * tb[i];
                    else if (ha) for (int64_t i = 0; i < m; ++i) r[i] = ta[i] * b[i];
                    else for (int64_t i = 0; i < m; ++i) r[i] = a[i] * tb[i];
                    break;
                case FA_DIV:
                    if (ha && hb)
                        for (int64_t i = 0; i < m; ++i) r[i] = ta[i] / b[i] + -tb[i] * y[i] / b[i];
                    else if (ha) for (int64_t i = 0; i < m; ++i) r[i] = ta[i] / b[i];
                    else for (int64_t i = 0; i < m; ++i) r[i] = -tb[i] * y[i] / b[i];
                    break;
                case FA_ADDC: for (int64_t i = 0; i < m; ++i) r[i] = ta[i]; break;
                case FA_MULC: for (int64_t i = 0; i < m; ++i) r[i] = ta[i] * c; break;
                case FA_DIVC: for (int64_t i = 0; i < m; ++i) r[i] = ta[i] / c; break;
                case FA_RDIVC: for (int64_t i = 0; i < m; ++i) r[i] = -ta[i] * y[i] / a[i]; break;
                case FA_MAXIMUM: case FA_MINIMUM:
                    if (f->b < 0)
                        for (int64_t i = 0; i < m; ++i) r[i] = ta[i] * extremum_share(a[i], y[i], c);
                    else if (ha && hb)
                        for (int64_t i = 0; i < m; ++i)
                            r[i] = ta[i] * extremum_share(a[i], y[i], b[i])
                                   + tb[i] * extremum_share(b[i], y[i], a[i]);
                    else if (ha)
                        for (int64_t i = 0; i < m; ++i) r[i] = ta[i] * extremum_share(a[i], y[i], b[i]);
                    else
                        for (int64_t i = 0; i < m; ++i) r[i] = tb[i] * extremum_share(b[i], y[i], a[i]);
                    break;
                default: {
                    const int32_t op = f->op;
                    if (needs_aux(op))
                        call_unary(f->aux, f->aux_data, a, aux, m);
                    double v;
                    for (int64_t i = 0; i < m; ++i) {
                        UNARY_RULE(op, ta[i], a[i], y[i], aux[i], v);
                        r[i] = v;
                    }
                }
                }
            }
            if (!has[n_leaves + n_code - 1])
                for (int64_t i = 0; i < m; ++i)
                    out[d * out_stride + start + i] = 0.0;
        }
    }
    return 0;
}
#undef UNARY_RULE

int64_t fa_fused_scratch(int32_t n_code, int32_t n_leaves, int64_t k)
{
    /* (see scratch_rows: 2 n_code + 3 rows, n_code row pointers, flags of
     * at most 3 n_code + n_leaves bytes, then the n_leaves rows and
     * pointers of fa_fused_vjp and fa_fused_sum_vjp) */
    (void)k;
    return (int64_t)(2 * n_code + 3 + n_leaves) * FA_BLOCK + n_code + n_leaves
           + (3 * (int64_t)n_code + n_leaves) / 8 + 1;
}
