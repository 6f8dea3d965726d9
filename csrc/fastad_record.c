/* The recording sweeps: the reverse and tangent sweeps of scalar nodes for
 * an operator that runs inside another (grad of grad, jvp of grad, hvp ...).
 * They compute no numbers of their own: each derivative operation is pushed
 * onto the same tape as a scalar node, so that the outer operator can
 * differentiate the result again.
 *
 * Each opcode's nodes are its op-table rule (ops/elementwise.py) written
 * out: the operations the rule performs on traced scalars, in its order,
 * with the node each one records there (x - 1.0 is x + -1.0, 1.0 - x is
 * RSUBC, a plain number times a node is MULC, ...).  So a sweep recorded
 * here equals, node for node and bit for bit, the one the rules record
 * through Python (sweeps.py), which keeps the nodes this file returns at:
 * FA_EXT (array operations), FA_ELEM (gathered per array) and FA_POW
 * (a traced exponent's rule selects with `where`).
 *
 * A node's adjoint or tangent is a *handle*, one per node of the swept
 * range [start, end) at handle[node - start]: a node of the tape holding
 * it, FA_NONE (no path from the seeds), or FA_PLAIN (a plain number, the
 * value at plain[node - start], as a rule applied to a plain cotangent
 * gives).  Contributions to nodes below `start` (outer levels: constants
 * here) are dropped.  Comparisons the rules of maximum and minimum make are
 * pushed as comparison nodes, the guards a replay checks; the caller
 * registers their sources.
 *
 * The same sweeps also run *dry* (fa_reverse_dry, fa_tangent_dry): nothing
 * is pushed; each operation computes the value its node would hold and
 * whether that node would depend on a node before `start`.  A nested
 * derivative that depends on none is a plain number of the enclosing
 * computation (_tape.plain_constants), so where the dry sweep finds every
 * wanted handle so, the recorded sweep's nodes would only be dropped: the
 * caller takes the numbers, bit for bit the values those nodes would hold. */
#include "fastad_tape.h"
#include "fastad_math.h"

#include <math.h>

/* A value a rule computes: a node of the tape (node >= 0; `value` is its
 * primal) or a plain number (node == FA_PLAIN). */
typedef struct {
    int64_t node;
    double value;
} term;

typedef struct {
    fa_tape *tape;
    int failed; /* the tape could not grow; dry: the sweep would record a guard */
    int dry; /* push nothing: terms that would be nodes are FA_DRY_INNER/OUTER */
    int64_t start; /* dry: the swept range's first node */
    const uint8_t *outer; /* dry: outer[i - start], node i depends on one before start */
} recorder;

/* dry: whether term t depends on a node before the swept range */
static inline int depends(const recorder *r, term t)
{
    if (t.node >= 0)
        return t.node < r->start || r->outer[t.node - r->start];
    return t.node == FA_DRY_OUTER;
}

/* dry: the term a node computed from x (and y) would be */
static inline term dry_term(const recorder *r, term x, term y, double value)
{
    term t = {depends(r, x) || depends(r, y) ? FA_DRY_OUTER : FA_DRY_INNER, value};
    return t;
}

static inline term plain_term(double value)
{
    term t = {FA_PLAIN, value};
    return t;
}

static inline term node_term(const fa_tape *tape, int64_t node)
{
    term t = {node, tape->primal[node]};
    return t;
}

static inline int is_plain(term t) { return t.node == FA_PLAIN; }

/* _binary, _with_constant and _unary of scalar.pxi: a constant goes to the
 * pool first, then the node; the value is the recording's own. */
static term push_binary(recorder *r, int opcode, term x, term y)
{
    const double value = fa_eval_binary(opcode, x.value, y.value);
    if (r->dry)
        return dry_term(r, x, y, value);
    const int64_t node = fa_push(r->tape, (uint8_t)opcode, (int32_t)x.node, (int32_t)y.node, value);
    if (node < 0)
        r->failed = 1;
    term t = {node < 0 ? 0 : node, value};
    return t;
}

static term push_constant(recorder *r, int opcode, term x, double c)
{
    if (r->dry)
        return dry_term(r, x, x, fa_eval_binary(opcode, x.value, c));
    const int64_t k = fa_push_constant(r->tape, c);
    if (k < 0) {
        r->failed = 1;
        return x;
    }
    const double value = fa_eval_binary(opcode, x.value, c);
    const int64_t node = fa_push(r->tape, (uint8_t)opcode, (int32_t)x.node, (int32_t)k, value);
    if (node < 0)
        r->failed = 1;
    term t = {node < 0 ? 0 : node, value};
    return t;
}

static term push_unary(recorder *r, int opcode, term x)
{
    if (is_plain(x))
        return plain_term(fa_eval_unary(opcode, x.value));
    const double value = fa_eval_unary(opcode, x.value);
    if (r->dry)
        return dry_term(r, x, x, value);
    const int64_t node = fa_push(r->tape, (uint8_t)opcode, (int32_t)x.node, 0, value);
    if (node < 0)
        r->failed = 1;
    term t = {node < 0 ? 0 : node, value};
    return t;
}

/* Python's operators between traced scalars and plain numbers
 * (_scalar_with_constant): x + c and c + x are ADDC, x - c is ADDC of -c,
 * c - x is RSUBC, x * c and c * x are MULC, x / c is DIVC, c / x is RDIVC. */
static term arithmetic(recorder *r, int opcode, term x, term y)
{
    if (is_plain(x) && is_plain(y))
        return plain_term(fa_eval_binary(opcode, x.value, y.value));
    if (is_plain(y)) {
        switch (opcode) {
        case FA_SUB: return push_constant(r, FA_ADDC, x, -y.value);
        case FA_MUL: return push_constant(r, FA_MULC, x, y.value);
        case FA_DIV: return push_constant(r, FA_DIVC, x, y.value);
        default: return push_constant(r, FA_ADDC, x, y.value);
        }
    }
    if (is_plain(x)) {
        switch (opcode) {
        case FA_SUB: return push_constant(r, FA_RSUBC, y, x.value);
        case FA_MUL: return push_constant(r, FA_MULC, y, x.value);
        case FA_DIV: return push_constant(r, FA_RDIVC, y, x.value);
        default: return push_constant(r, FA_ADDC, y, x.value);
        }
    }
    return push_binary(r, opcode, x, y);
}

static inline term add(recorder *r, term x, term y) { return arithmetic(r, FA_ADD, x, y); }
static inline term sub(recorder *r, term x, term y) { return arithmetic(r, FA_SUB, x, y); }
static inline term mul(recorder *r, term x, term y) { return arithmetic(r, FA_MUL, x, y); }
static inline term divide(recorder *r, term x, term y) { return arithmetic(r, FA_DIV, x, y); }

static inline term neg(recorder *r, term x) { return push_unary(r, FA_NEG, x); }

static inline term num(double value) { return plain_term(value); }

/* x == y between two nodes, recorded with its outcome (a guard) as
 * Scalar.__eq__ does; the outcome as the rule then uses it, 1 or 0. */
static double equal(recorder *r, term x, term y)
{
    if (r->dry)
        r->failed = 1; /* the guard is not recorded: the caller records the sweep */
    return push_binary(r, FA_EQ, x, y).value;
}

/* ((1 - x) (1 + x)): the arcsin/arccos/arctanh factor, without cancellation. */
static term one_minus_square(recorder *r, term x)
{
    term left = sub(r, num(1.0), x);
    return mul(r, left, add(r, num(1.0), x));
}

/* g times the derivative of x ** c in x for a constant c (_pow_vjp_x). */
static term powc_rule(recorder *r, term g, term x, double c)
{
    if (c == 2.0)
        return mul(r, mul(r, g, num(2.0)), x);
    if (c == 1.0)
        return g;
    if (c == 0.0)
        return mul(r, g, num(0.0));
    term scaled = mul(r, g, num(c));
    const double e = c - 1.0;
    /* power(x, e): x ** 2 is recorded as x * x (_scalar_with_constant) */
    term p = e == 2.0 ? push_unary(r, FA_SQUARE, x) : push_constant(r, FA_POWC, x, e);
    return mul(r, scaled, p);
}

/* g times the derivative of c ** x in x (_pow_vjp_y with a constant base):
 * g (ans log c), 0 for c = 0. */
static term rpowc_rule(recorder *r, term g, term ans, double c)
{
    if (c == 0.0)
        return mul(r, g, num(0.0));
    return mul(r, g, mul(r, ans, num(log(c))));
}

/* g routed to x by maximum/minimum (_balanced): (x == ans) / (1 + (x == y)). */
static term extremum_rule(recorder *r, term g, term ans, term x, term y)
{
    const double chosen = equal(r, x, ans);
    const double tie = equal(r, x, y);
    return mul(r, g, num(chosen / (1.0 + tie)));
}

/* The rule of unary opcode `op` applied to g, with x its operand and ans
 * its result (the unary rules are their own JVP rules). */
static term unary_rule(recorder *r, int op, term g, term ans, term x)
{
    switch (op) {
    case FA_NEG: return neg(r, g);
    case FA_ABS: return mul(r, g, push_unary(r, FA_SIGN, x));
    case FA_SQUARE: return mul(r, g, mul(r, num(2.0), x));
    case FA_SQRT: return mul(r, g, divide(r, num(0.5), ans));
    case FA_CBRT: return divide(r, g, mul(r, mul(r, num(3.0), ans), ans));
    case FA_RECIPROCAL: {
        term minus = neg(r, g);
        return mul(r, minus, mul(r, ans, ans));
    }
    case FA_EXP: return mul(r, g, ans);
    case FA_EXP2: return mul(r, g, mul(r, ans, num(LN2)));
    case FA_EXPM1: return mul(r, g, add(r, ans, num(1.0)));
    case FA_LOG: return divide(r, g, x);
    case FA_LOG1P: return divide(r, g, add(r, num(1.0), x));
    case FA_LOG2: return divide(r, g, mul(r, x, num(LN2)));
    case FA_LOG10: return divide(r, g, mul(r, x, num(LN10)));
    case FA_SIN: return mul(r, g, push_unary(r, FA_COS, x));
    case FA_COS: {
        term minus = neg(r, g);
        return mul(r, minus, push_unary(r, FA_SIN, x));
    }
    case FA_TAN: return mul(r, g, add(r, num(1.0), mul(r, ans, ans)));
    case FA_ASIN: return divide(r, g, push_unary(r, FA_SQRT, one_minus_square(r, x)));
    case FA_ACOS: {
        term minus = neg(r, g);
        return divide(r, minus, push_unary(r, FA_SQRT, one_minus_square(r, x)));
    }
    case FA_ATAN: return divide(r, g, add(r, num(1.0), mul(r, x, x)));
    case FA_SINH: return mul(r, g, push_unary(r, FA_COSH, x));
    case FA_COSH: return mul(r, g, push_unary(r, FA_SINH, x));
    case FA_TANH: return mul(r, g, sub(r, num(1.0), mul(r, ans, ans)));
    case FA_ASINH: {
        term s = add(r, mul(r, x, x), num(1.0));
        return divide(r, g, push_unary(r, FA_SQRT, s));
    }
    case FA_ACOSH: {
        term left = sub(r, x, num(1.0));
        term s = mul(r, left, add(r, x, num(1.0)));
        return divide(r, g, push_unary(r, FA_SQRT, s));
    }
    case FA_ATANH: return divide(r, g, one_minus_square(r, x));
    default: return plain_term(0.0); /* not reached: sign and comparisons have no rule */
    }
}

/* x * x + y * y, the arctan2 denominator, as the rule writes it. */
static term sum_of_squares(recorder *r, term x, term y)
{
    term xx = mul(r, x, x);
    return add(r, xx, mul(r, y, y));
}

/* The rule of binary opcode `op` for its first operand (first != 0) or its
 * second, applied to g.  `tangent`: the JVP rule, which differs from the
 * VJP rule only in multiply's second operand (x * t, not g * x). */
static term binary_rule(recorder *r, int op, int first, int tangent, term g, term ans, term x,
                        term y)
{
    switch (op) {
    case FA_ADD: return g;
    case FA_SUB: return first ? g : neg(r, g);
    case FA_MUL: return first ? mul(r, g, y) : (tangent ? mul(r, x, g) : mul(r, g, x));
    case FA_DIV:
        if (first)
            return divide(r, g, y);
        return divide(r, mul(r, neg(r, g), ans), y);
    case FA_MAXIMUM: case FA_MINIMUM:
        return first ? extremum_rule(r, g, ans, x, y) : extremum_rule(r, g, ans, y, x);
    case FA_ATAN2:
        if (first) {
            term top = mul(r, g, y);
            return divide(r, top, sum_of_squares(r, x, y));
        } else {
            term top = mul(r, neg(r, g), x);
            return divide(r, top, sum_of_squares(r, x, y));
        }
    case FA_HYPOT: return divide(r, mul(r, g, first ? x : y), ans);
    default: return plain_term(0.0); /* FA_POW: left to the caller */
    }
}

/* The rule of a constant opcode (x op c or c op x) applied to g: the binary
 * opcode's rule with the constant as a plain operand. */
static term constant_rule(recorder *r, int op, term g, term ans, term x, double c)
{
    switch (op) {
    case FA_ADDC: return g;
    case FA_RSUBC: return neg(r, g);
    case FA_MULC: return mul(r, g, num(c));
    case FA_DIVC: return divide(r, g, num(c));
    case FA_RDIVC: return divide(r, mul(r, neg(r, g), ans), x);
    case FA_POWC: return powc_rule(r, g, x, c);
    case FA_RPOWC: return rpowc_rule(r, g, ans, c);
    default: return plain_term(0.0);
    }
}

static inline int records_here(uint8_t op)
{
    return op != FA_EXT && op != FA_ELEM && op != FA_POW;
}

static inline term handle_term(const fa_tape *tape, const int64_t *handle, const double *plain,
                               int64_t at)
{
    if (handle[at] >= 0)
        return node_term(tape, handle[at]);
    term t = {handle[at], plain[at]}; /* FA_PLAIN, or dry: FA_DRY_INNER/OUTER */
    return t;
}

/* adjoint[node] += c (sweeps.reverse's accumulate): the first contribution
 * is kept as it is, later ones are added in order. */
static void accumulate(recorder *r, int64_t *handle, double *plain, int64_t start, int64_t node,
                       term c)
{
    if (node < start)
        return;
    const int64_t at = node - start;
    if (handle[at] != FA_NONE)
        c = add(r, handle_term(r->tape, handle, plain, at), c);
    handle[at] = c.node;
    plain[at] = c.value;
}

static int64_t reverse_sweep(recorder *r, int64_t *handle, double *plain, int64_t start,
                             int64_t end)
{
    const fa_tape *tape = r->tape;
    for (int64_t i = end - 1; i >= start; --i) {
        const uint8_t op = tape->opcode[i];
        if (!records_here(op))
            return i;
        if (handle[i - start] == FA_NONE || op == FA_LEAF || FA_IS_COMPARISON(op)
                || op == FA_SIGN)
            continue;
        const int64_t a = tape->operand0[i], b = tape->operand1[i];
        const term g = handle_term(tape, handle, plain, i - start);
        const term ans = node_term(tape, i), x = node_term(tape, a);
        if (FA_IS_BINARY(op)) {
            const term y = node_term(tape, b);
            accumulate(r, handle, plain, start, a, binary_rule(r, op, 1, 0, g, ans, x, y));
            accumulate(r, handle, plain, start, b, binary_rule(r, op, 0, 0, g, ans, x, y));
        } else if (FA_IS_CONST_BINARY(op)) {
            const double c = tape->constants[b];
            accumulate(r, handle, plain, start, a, constant_rule(r, op, g, ans, x, c));
        } else {
            accumulate(r, handle, plain, start, a, unary_rule(r, op, g, ans, x));
        }
        if (r->failed)
            return FA_RECORD_FULL;
    }
    return start - 1;
}

int64_t fa_reverse_record(fa_tape *tape, int64_t *handle, double *plain, int64_t start,
                          int64_t end)
{
    recorder r = {tape, 0, 0, start, NULL};
    return reverse_sweep(&r, handle, plain, start, end);
}

static int64_t tangent_sweep(recorder *r, int64_t *handle, double *plain, int64_t start,
                             int64_t from, int64_t end)
{
    const fa_tape *tape = r->tape;
    for (int64_t i = from; i < end; ++i) {
        const uint8_t op = tape->opcode[i];
        if (!records_here(op))
            return i;
        if (op == FA_LEAF || FA_IS_COMPARISON(op) || op == FA_SIGN)
            continue;
        const int64_t a = tape->operand0[i], b = tape->operand1[i];
        const int reached_a = a >= start && handle[a - start] != FA_NONE;
        term t;
        if (FA_IS_BINARY(op)) {
            const int reached_b = b >= start && handle[b - start] != FA_NONE;
            if (!reached_a && !reached_b)
                continue;
            const term ans = node_term(tape, i), x = node_term(tape, a), y = node_term(tape, b);
            int have = 0;
            if (reached_a) {
                t = binary_rule(r, op, 1, 1, handle_term(tape, handle, plain, a - start), ans,
                                x, y);
                have = 1;
            }
            if (reached_b) {
                term tb = binary_rule(r, op, 0, 1, handle_term(tape, handle, plain, b - start),
                                      ans, x, y);
                t = have ? add(r, t, tb) : tb;
            }
        } else {
            if (!reached_a)
                continue;
            const term ta = handle_term(tape, handle, plain, a - start);
            const term ans = node_term(tape, i), x = node_term(tape, a);
            if (FA_IS_CONST_BINARY(op))
                t = constant_rule(r, op, ta, ans, x, tape->constants[b]);
            else
                t = unary_rule(r, op, ta, ans, x);
        }
        if (r->failed)
            return FA_RECORD_FULL;
        handle[i - start] = t.node;
        plain[i - start] = t.value;
    }
    return end;
}

int64_t fa_tangent_record(fa_tape *tape, int64_t *handle, double *plain, int64_t start,
                          int64_t from, int64_t end)
{
    recorder r = {tape, 0, 0, start, NULL};
    return tangent_sweep(&r, handle, plain, start, from, end);
}

void fa_depends_before(const fa_tape *tape, uint8_t *outer, int64_t start, int64_t end)
{
    for (int64_t i = start; i < end; ++i) {
        const uint8_t op = tape->opcode[i];
        int d;
        if (op == FA_LEAF) {
            d = 0;
        } else if (op == FA_EXT || op == FA_ELEM) {
            d = 1;
        } else {
            const int64_t a = tape->operand0[i];
            d = a < start || outer[a - start];
            if ((FA_IS_BINARY(op) || FA_IS_COMPARISON(op)) && !d) {
                const int64_t b = tape->operand1[i];
                d = b < start || outer[b - start];
            }
        }
        outer[i - start] = (uint8_t)d;
    }
}

int fa_reverse_dry(const fa_tape *tape, int64_t *handle, double *plain, const uint8_t *outer,
                   int64_t start, int64_t end)
{
    recorder r = {(fa_tape *)tape, 0, 1, start, outer};
    return reverse_sweep(&r, handle, plain, start, end) == start - 1 ? 0 : -1;
}

int fa_tangent_dry(const fa_tape *tape, int64_t *handle, double *plain, const uint8_t *outer,
                   int64_t start, int64_t from, int64_t end)
{
    recorder r = {(fa_tape *)tape, 0, 1, start, outer};
    return tangent_sweep(&r, handle, plain, start, from, end) == end ? 0 : -1;
}
