/* fastad's C core: the interface the Cython layer compiles against.
 *
 *   fastad_tape.c    the tape's memory: columns, constants, sources
 *   fastad_scalar.c  the scalar kernels: replay, reverse and forward sweeps
 *   fastad_steps.c   the array C steps of the reverse sweep
 *   fastad_fused.c   fused elementwise programs over float64 arrays
 *   fastad_taylor.c  Taylor series through the scalar opcodes
 *   fastad_record.c  the recording sweeps of nested operators
 *   fastad_math.h    what the kernels share (internal to csrc/)
 *
 * Plain C, no Python API: a tape is four parallel arrays (opcode, two operand
 * indices, primal value) plus a pool of constants.  Scalar opcodes are
 * evaluated, swept backward and swept forward here; array and generic
 * operations carry the opcode FA_EXT and are handled by the Cython layer,
 * which keeps their data in a side table indexed by operand0.
 *
 * Memory per scalar operation: 1 (opcode) + 4 + 4 (operands) + 8 (primal)
 * = 17 bytes, plus 8 bytes per constant operand.
 *
 * Element access x[i] of a float64 array node is a scalar node too
 * (FA_ELEM): the array is registered once as a *source* (its contiguous
 * data, and during a sweep a buffer for its adjoint or tangents), so that a
 * Python loop over an array's elements records, replays and sweeps in C.
 */
#ifndef FASTAD_TAPE_H
#define FASTAD_TAPE_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opcodes.  The order matters only for the range tests below. */
enum fa_opcode {
    FA_LEAF = 0,   /* input or constant: no operands */
    FA_EXT,        /* array or generic operation: operand0 = side-table index */
    FA_ELEM,       /* element of a source array: operand0 = source, operand1 = flat index */
    /* comparisons: value is the outcome (1 or 0); no derivative flows */
    FA_LT, FA_LE, FA_GT, FA_GE, FA_EQ, FA_NE,
    /* binary on two nodes */
    FA_ADD, FA_SUB, FA_MUL, FA_DIV, FA_POW, FA_MAXIMUM, FA_MINIMUM, FA_ATAN2,
    FA_HYPOT,
    /* binary with a constant: operand1 = index into the constant pool */
    FA_ADDC,   /* x + c */
    FA_RSUBC,  /* c - x */
    FA_MULC,   /* x * c */
    FA_DIVC,   /* x / c */
    FA_RDIVC,  /* c / x */
    FA_POWC,   /* x ** c */
    FA_RPOWC,  /* c ** x */
    /* unary */
    FA_NEG, FA_ABS, FA_SIGN, FA_SQUARE, FA_SQRT, FA_CBRT, FA_RECIPROCAL,
    FA_EXP, FA_EXP2, FA_EXPM1, FA_LOG, FA_LOG1P, FA_LOG2, FA_LOG10,
    FA_SIN, FA_COS, FA_TAN, FA_ASIN, FA_ACOS, FA_ATAN,
    FA_SINH, FA_COSH, FA_TANH, FA_ASINH, FA_ACOSH, FA_ATANH,
    FA_N_OPCODES
};

#define FA_IS_COMPARISON(op) ((op) >= FA_LT && (op) <= FA_NE)
#define FA_IS_BINARY(op) ((op) >= FA_ADD && (op) <= FA_HYPOT)
#define FA_IS_CONST_BINARY(op) ((op) >= FA_ADDC && (op) <= FA_RPOWC)
#define FA_IS_UNARY(op) ((op) >= FA_NEG && (op) < FA_N_OPCODES)

/* Compiler and C library extensions, each with a portable fallback: threaded
 * dispatch (computed goto), always_inline, AVX2 clones, GCC's cross-jumping
 * switch, glibc's malloc tuning.  -DFA_PORTABLE builds the fallbacks with
 * GCC and Clang too, so that the code MSVC and other toolchains compile is
 * built and tested here (.ci/matrix). */
#if defined(__GNUC__) && !defined(FA_PORTABLE)
#define FA_GNU_C 1
#endif
#if defined(__GLIBC__) && !defined(FA_PORTABLE)
#define FA_GLIBC 1
#endif

/* Array kernels (C steps, fused programs) are compiled twice where the
 * toolchain can pick at load time: for AVX2 (four doubles a vector, as
 * NumPy's own loops on such machines) and for the baseline.  No FMA either way (-ffp-contract=off, and AVX2
 * alone does not imply FMA): results do not depend on the machine. */
#if defined(FA_GNU_C) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FA_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define FA_CLONES
#endif

/* Largest number of nodes a tape may hold: operands are 32-bit indices.
 * fa_max_nodes can lower it (tests use that to reach the limit cheaply). */
#define FA_MAX_NODES ((int64_t)INT32_MAX)
extern int64_t fa_max_nodes;

/* An array whose elements scalar nodes read (FA_ELEM).  `data` points to the
 * array's current primal (C-contiguous float64, kept alive by the Cython
 * layer); `offset` places its elements in the sweeps' source buffers. */
typedef struct {
    const double *data;
    int64_t size;
    int64_t offset;
    int64_t node;
    /* 1 + the FA_ELEM node already reading each element, 0 for none (the
     * recording reuses it: x[i] read twice is one node); allocated on the
     * first read, zero pages untouched until then */
    int32_t *reader;
} fa_source;

typedef struct {
    uint8_t *opcode;
    int32_t *operand0;
    int32_t *operand1;
    double *primal;
    int64_t size, capacity;
    double *constants;
    int64_t n_constants, constants_capacity;
    fa_source *sources;
    int64_t n_sources, sources_capacity;
    int64_t source_elements;   /* sum of the sources' sizes */
    /* Set by the Cython layer for the duration of one sweep: the sources'
     * adjoints (reverse; k per element for fa_reverse_k) and tangents
     * (forward; k per element), indexed by offset + element.  A NULL
     * tangent buffer means no source has a tangent. */
    double *source_adjoint;
    const double *source_tangent;
} fa_tape;

void fa_tape_init(fa_tape *tape);
void fa_tape_free(fa_tape *tape);
/* Truncate to `size` nodes (used to drop a failed recording's tail). */
void fa_tape_truncate(fa_tape *tape, int64_t size);
/* Grow to hold at least one more node; -1 when memory or index space ran out. */
int fa_tape_grow(fa_tape *tape);
int fa_tape_grow_constants(fa_tape *tape);
/* Register a source array of `size` elements for node `node`; returns its
 * index, or -1 when memory ran out. */
int64_t fa_push_source(fa_tape *tape, int64_t node, const double *data, int64_t size);
/* The FA_ELEM node reading element `element` of source `slot`, pushed on
 * the first read and reused after; -1 when memory ran out. */
int64_t fa_push_element(fa_tape *tape, int64_t slot, int64_t element);
size_t fa_tape_nbytes(const fa_tape *tape);

/* Append a node; returns its index, or -1 when the tape cannot grow. */
static inline int64_t fa_push(fa_tape *tape, uint8_t opcode, int32_t operand0,
                              int32_t operand1, double primal)
{
    int64_t i = tape->size;
    if (i == tape->capacity && fa_tape_grow(tape) < 0)
        return -1;
    tape->opcode[i] = opcode;
    tape->operand0[i] = operand0;
    tape->operand1[i] = operand1;
    tape->primal[i] = primal;
    tape->size = i + 1;
    return i;
}

static inline int64_t fa_push_constant(fa_tape *tape, double c)
{
    int64_t i = tape->n_constants;
    if (i == tape->constants_capacity && fa_tape_grow_constants(tape) < 0)
        return -1;
    tape->constants[i] = c;
    tape->n_constants = i + 1;
    return i;
}

/* Forward values of scalar opcodes: one definition shared by recording and
 * replay, so that a replayed tape is bit-identical to a fresh trace. */
double fa_eval_unary(int opcode, double x);
double fa_eval_binary(int opcode, double x, double y);

/* Re-evaluate the primals of scalar nodes [start, end) from their operands
 * (a recorded tape replayed at new inputs; leaves keep the values the caller
 * wrote).  A comparison whose outcome differs from the recorded one stops
 * the sweep: its index goes to *flipped and is returned.  Otherwise stops
 * at the first FA_EXT node (returns its index) or returns end. */
int64_t fa_replay(fa_tape *tape, int64_t start, int64_t end, int64_t *flipped);

/* Reverse sweep over scalar opcodes, from node `end - 1` down to `start`,
 * adding each node's adjoint times its partials into its operands' adjoints.
 * `adjoint` is indexed by node and must cover every operand; operands below
 * `start` receive their contributions too, which the caller may ignore.
 * Stops at the first FA_EXT node and returns its index, or start - 1 when
 * the range is done.  Touches no Python object. */
int64_t fa_reverse(const fa_tape *tape, double *adjoint, int64_t start,
                   int64_t end);

/* Forward (tangent) sweep over scalar opcodes from node `start` up to
 * `end - 1`, carrying `k` directions at once: tangent[node * k + j] is
 * direction j's tangent of node.  Leaf nodes keep their seeded tangents.
 * Stops at the first FA_EXT node and returns its index, or `end`. */
int64_t fa_tangent(const fa_tape *tape, double *tangent, int64_t k,
                   int64_t start, int64_t end);

/* Zero the tangent rows a sweep from `start` does not write: the nodes
 * before it, the leaves and the FA_EXT nodes (fa_tangent writes every
 * other row it passes), so that a buffer of millions of rows need not be
 * cleared whole before each sweep. */
void fa_tangent_clear(const fa_tape *tape, double *tangent, int64_t k, int64_t start);

/* The VJP of a unary elementwise opcode over n float64 elements: out[i]
 * (+)= g[i] * f'(x[i]) (y: the outputs f(x)), accumulating when
 * `accumulate`; -1 for an opcode without a rule here.  The array sweep's
 * fast path for contiguous float64 arrays. */
int fa_unary_vjp(int opcode, const double *x, const double *y, const double *g,
                 double *out, int64_t n, int accumulate);

/* The VJP of add, subtract, multiply or divide between a float64 array x
 * and the constant c (`constant_first`: c op x), or of x ** 2: out[i] (+)=
 * the cotangent of x's element i (y: the outputs); -1 for another opcode.
 * (These rules are linear in g, and are their operations' JVP rules too.) */
int fa_constant_vjp(int opcode, int constant_first, double c, const double *x,
                    const double *y, const double *g, double *out, int64_t n, int accumulate);

/* The VJP of x * a or x / a in x for a constant float64 array a of x's
 * shape: out[i] (+)= g[i] * a[i] (or g[i] / a[i] when `divide`). */
int fa_array_scale_vjp(int divide, const double *a, const double *g, double *out, int64_t n,
                       int accumulate);

/* The VJP of maximum/minimum(x, c) in x for a constant c (relu), float64
 * and float32: out[i] (+)= g[i] times 1 where x is the result, 1/2 on a tie
 * with c, 0 elsewhere. */
int fa_extremum_vjp_f64(const double *x, const double *ans, double c, const double *g,
                        double *out, int64_t n, int accumulate);
int fa_extremum_vjp_f32(const float *x, const float *ans, double c, const float *g,
                        float *out, int64_t n, int accumulate);

/* Reverse sweep carrying k cotangents at once (adjoint[node * k + j]); the
 * rest as fa_reverse. */
int64_t fa_reverse_k(const fa_tape *tape, double *adjoint, int64_t k, int64_t start,
                     int64_t end);

/* The recording sweeps (fastad_record.c): the reverse and tangent sweeps of
 * an operator nested in another, pushing each derivative operation onto the
 * tape as a scalar node instead of computing it.  A node's adjoint (tangent)
 * over the swept range [start, end) is handle[node - start]: the node that
 * holds it, FA_NONE, or FA_PLAIN with the number at plain[node - start].
 * fa_reverse_record sweeps from end - 1 down (end <= the range's end) and
 * returns the first node it
 * leaves to the caller (FA_EXT, FA_ELEM, FA_POW), or start - 1;
 * fa_tangent_record sweeps up from `from` (>= start) and returns that node,
 * or end.
 * Both return FA_RECORD_FULL when the tape cannot grow. */
#define FA_NONE (-1)
#define FA_PLAIN (-2)
#define FA_RECORD_FULL (-2)
int64_t fa_reverse_record(fa_tape *tape, int64_t *handle, double *plain, int64_t start,
                          int64_t end);
int64_t fa_tangent_record(fa_tape *tape, int64_t *handle, double *plain, int64_t start,
                          int64_t from, int64_t end);

/* Dry runs of the recording sweeps: nothing is pushed; a handle that would
 * name a node is FA_DRY_INNER (the node would depend on the range's nodes
 * alone) or FA_DRY_OUTER (on a node before `start`), its value at
 * plain[node - start], bit for bit the value the node would hold.  `outer`
 * flags the range's nodes that depend on one before it (fa_depends_before
 * fills it for [start, end)).  Both return 0, or -1 where the recording
 * sweep would return to its caller or record a guard (maximum, minimum):
 * the handles are then to be cleared and the sweep recorded. */
#define FA_DRY_INNER (-3)
#define FA_DRY_OUTER (-4)
void fa_depends_before(const fa_tape *tape, uint8_t *outer, int64_t start, int64_t end);
int fa_reverse_dry(const fa_tape *tape, int64_t *handle, double *plain, const uint8_t *outer,
                   int64_t start, int64_t end);
int fa_tangent_dry(const fa_tape *tape, int64_t *handle, double *plain, const uint8_t *outer,
                   int64_t start, int64_t from, int64_t end);

/* Truncated Taylor series (fastad_taylor.c).  `series` holds d + 1
 * coefficients per node, node-major; `scratch` 3 (d + 1) doubles.  The
 * series functions map one operand's (or two operands') coefficients to the
 * result's; they return -1 for an opcode without a rule.  fa_taylor sweeps
 * nodes [start, end) and stops at the first FA_EXT node (returns its index,
 * or end); leaves keep their seeded series. */
int fa_series_unary(int opcode, const double *x, double *y, int d, double c, double *scratch);
int fa_series_binary(int opcode, const double *a, const double *b, double *y, int d,
                     double *scratch);
int64_t fa_taylor(const fa_tape *tape, double *series, int d, int64_t start, int64_t end,
                  double *scratch);

/* Keep freed large blocks for reuse instead of returning them to the system
 * (glibc only; no-op elsewhere).  A gradient allocates many temporaries of
 * the same sizes call after call; with glibc's defaults each is a fresh
 * mmap and every page of it faults again, which costs more than the
 * arithmetic.  Returns 1 when applied. */
int fa_tune_malloc(void);
/* Ask Linux for transparent huge pages over the aligned interior of a
 * block of 8 MiB or more (a sweep over millions of nodes walks several
 * such columns at once: 4 KiB pages miss the TLB at every step). */
void fa_advise_huge(void *block, size_t bytes);

/* Sparsity patterns (fastad_pattern.c): each node of [start, end) gets the
 * sorted list of input elements it depends on (set, length; NULL and 0 for
 * none), computed only for the nodes flagged in `needed`.  The lists live in
 * an arena of blocks that never move; an element read points into row i of
 * its source's pattern (source_indptr/source_indices: CSR rows set by the
 * caller, NULL for a source that depends on nothing). */
typedef struct fa_pattern_block fa_pattern_block;
typedef struct {
    const fa_tape *tape;
    int64_t start, end, n_sources;
    const int64_t **set;
    int64_t *length;
    uint8_t *needed;
    const int64_t **source_indptr;
    const int64_t **source_indices;
    fa_pattern_block *blocks;
} fa_pattern;

/* 0, or -1 when memory ran out (then nothing is held). */
int fa_pattern_init(fa_pattern *p, const fa_tape *tape, int64_t start, int64_t end);
void fa_pattern_free(fa_pattern *p);
/* Room for n indices in the arena (NULL: no memory). */
int64_t *fa_pattern_alloc(fa_pattern *p, int64_t n);
/* Flag the operands of the flagged nodes, from `from` down to start: stops
 * at each flagged FA_EXT node, whose operands the caller flags, returning
 * its index; start - 1 when done. */
int64_t fa_pattern_reach(fa_pattern *p, int64_t from);
/* The flagged nodes' sets from `from` up: stops at each flagged FA_EXT node,
 * whose set the caller gives, returning its index; end when done, -1 when
 * memory ran out. */
int64_t fa_pattern_run(fa_pattern *p, int64_t from);
/* Greedy distance-2 colouring of the n columns of a pattern given as CSR
 * (row_ptr, row_cols) and CSC (col_ptr, col_rows): columns sharing a row
 * get different colours, taken largest degree first (ties by index), each
 * the least colour free.  Returns the number of colours (colour[j] each),
 * -1 when memory ran out. */
int64_t fa_colour_columns(int64_t n, const int64_t *row_ptr, const int64_t *row_cols,
                          const int64_t *col_ptr, const int64_t *col_rows, int64_t *colour);

/* Fused elementwise programs (fastad_fused.c): elementwise functions of
 * float64 arrays of one shape, evaluated and swept (backward, forward) a
 * block of elements at a time.  Instruction j reads registers a and b (b =
 * -1: none) and writes register n_leaves + j; registers below n_leaves are
 * the leaf arrays.  Opcodes:
 *   FA_ADD FA_SUB FA_MUL FA_DIV             a op b
 *   FA_ADDC FA_RSUBC FA_MULC FA_DIVC FA_RDIVC   a with the constant c
 *   FA_NEG FA_SQUARE FA_SQRT                in C
 *   FA_MAXIMUM FA_MINIMUM                   of a and b, or of a and c (b = -1),
 *                                           by `loop` (a binary loop)
 *   FA_SIGN, the comparisons FA_LT ... FA_NE   in C (a comparison of a and b,
 *                                           or of a and c, is 1.0 or 0.0); no
 *                                           derivative flows through them
 *   every other unary opcode                by `loop` (a unary loop)
 * A loop is the caller's elementwise function with NumPy's inner-loop
 * signature (the ufunc's own loop: the values are NumPy's bit for bit);
 * `aux` is the function the derivative reads where it is not arithmetic:
 * cos for FA_SIN, sin for FA_COS, cosh for FA_SINH, sinh for FA_COSH.
 * fa_fused_check validates a program (0, or -1); scratch holds
 * fa_fused_scratch(n_code, n_leaves, k) doubles.  fa_fused_eval writes the
 * result into out, fa_fused_sum sums it as numpy.add.reduce would sum the
 * evaluated array (chunk: see fastad_fused.c); both return -1 for an
 * invalid opcode, else the IEEE exceptions the evaluation raised (FA_FP_*
 * bits, 0 for none).  fa_fused_sum_grad is fa_fused_sum that also writes
 * the leaves' derivatives of the sum into grads[r] (NULL: skipped), each
 * block swept backward while its values are in cache; fa_fused_sum_vjp
 * stores or adds (accumulate[r]) g times those derivatives into adjoints[r]
 * without forming them (the same numbers).  fa_fused_vjp writes (or adds,
 * per accumulate[r]: each leaf's cotangent formed first, then added) the
 * leaves' adjoints for the cotangent g of the result (g NULL: the same
 * g_scalar everywhere); adjoints[r] NULL skips leaf r.  fa_fused_jvp writes
 * the result's tangents for k directions (out: k rows of n) from the
 * leaves' (tangents[r]: k rows of n, or NULL for none).  `kept` (NULL, or
 * an array of n elements or NULL per instruction): fa_fused_eval writes
 * those instructions' values there, and fa_fused_vjp and fa_fused_jvp read
 * them back instead of evaluating them again (the caller keeps the
 * functions' results, as unfused operations keep their arrays). */
enum { FA_FP_DIVIDE = 1, FA_FP_OVER = 2, FA_FP_UNDER = 4, FA_FP_INVALID = 8 };

typedef void (*fa_loop)(char **args, const intptr_t *dimensions, const intptr_t *steps,
                        void *data);

typedef struct {
    int32_t op, a, b, unused;
    double c;
    fa_loop loop, aux;
    void *loop_data, *aux_data;
} fa_fop;

int fa_fused_check(const fa_fop *code, int32_t n_code, int32_t n_leaves);
int64_t fa_fused_scratch(int32_t n_code, int32_t n_leaves, int64_t k);
int fa_fused_eval(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                  const double *const *leaves, int64_t n, double *out, double *const *kept,
                  double *scratch);
int fa_fused_sum(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                 const double *const *leaves, int64_t n, int64_t chunk, double *sum,
                 double *scratch);
int fa_fused_sum_grad(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                      const double *const *leaves, int64_t n, int64_t chunk, double *sum,
                      double *const *grads, double *scratch);
int fa_fused_sum_vjp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                     const double *const *leaves, int64_t n, double g,
                     double *const *adjoints, const int *accumulate, double *const *kept,
                     double *scratch);
int fa_fused_vjp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                 const double *const *leaves, int64_t n, const double *g, double g_scalar,
                 double *const *adjoints, const int *accumulate, double *const *kept,
                 double *scratch);
int fa_fused_jvp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                 const double *const *leaves, int64_t n, const double *const *tangents,
                 int64_t k, double *out, double *const *kept, double *scratch);
/* fa_fused_jvp with leaf r's k tangent rows `strides[r]` doubles apart
 * (NULL: n) and the result's `out_stride` apart: a row of a 2-D block of
 * strided slices (a stencil's) swept without copying them. */
int fa_fused_jvp_strided(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                         const double *const *leaves, int64_t n,
                         const double *const *tangents, const int64_t *strides, int64_t k,
                         double *out, int64_t out_stride, double *const *kept, double *scratch);

/* Moves between strided blocks of float64 values (fastad_plan.c): a block of
 * `shape` read from `from` + from_offset with from_strides and written to
 * `to` + to_offset with to_strides (strides and offsets in elements).
 * fa_move_run copies it (or adds it, with `accumulate`); fa_move_back adds
 * the block of `to_adjoint` back into `from_adjoint` (or copies it), the
 * move's transpose (a stride 0 on the `from` side, added into, sums the
 * repeated elements in order).
 * fa_move_simplify drops unit dimensions and merges the dimensions that
 * both sides step through as one run. */
#define FA_MOVE_DIMS 8

typedef struct {
    int32_t ndim;
    int64_t shape[FA_MOVE_DIMS];
    int64_t to_strides[FA_MOVE_DIMS];
    int64_t from_strides[FA_MOVE_DIMS];
    int64_t to_offset, from_offset;
} fa_move;

void fa_move_simplify(fa_move *m);
void fa_move_run(const fa_move *m, double *to, const double *from, int accumulate);
void fa_move_back(const fa_move *m, double *from_adjoint, const double *to_adjoint,
                  int accumulate);

#ifdef __cplusplus
}
#endif
#endif
