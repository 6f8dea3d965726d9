# The C tape and the Cython types that record onto it.
from libc.stdint cimport int32_t, int64_t, uint8_t
from cpython.pythread cimport PyThread_type_lock


cdef extern from "fastad_tape.h":
    enum:
        FA_LEAF, FA_EXT, FA_ELEM,
        FA_LT, FA_LE, FA_GT, FA_GE, FA_EQ, FA_NE,
        FA_ADD, FA_SUB, FA_MUL, FA_DIV, FA_POW, FA_MAXIMUM, FA_MINIMUM,
        FA_ATAN2, FA_HYPOT,
        FA_ADDC, FA_RSUBC, FA_MULC, FA_DIVC, FA_RDIVC, FA_POWC, FA_RPOWC,
        FA_NEG, FA_ABS, FA_SIGN, FA_SQUARE, FA_SQRT, FA_CBRT, FA_RECIPROCAL,
        FA_EXP, FA_EXP2, FA_EXPM1, FA_LOG, FA_LOG1P, FA_LOG2, FA_LOG10,
        FA_SIN, FA_COS, FA_TAN, FA_ASIN, FA_ACOS, FA_ATAN,
        FA_SINH, FA_COSH, FA_TANH, FA_ASINH, FA_ACOSH, FA_ATANH,
        FA_N_OPCODES

    int64_t fa_max_nodes
    bint FA_IS_BINARY(int op)
    bint FA_IS_CONST_BINARY(int op)
    bint FA_IS_UNARY(int op)

    ctypedef struct fa_source:
        const double *data
        int64_t size
        int64_t offset
        int64_t node
        int32_t *reader

    ctypedef struct fa_tape:
        uint8_t *opcode
        int32_t *operand0
        int32_t *operand1
        double *primal
        int64_t size
        int64_t capacity
        double *constants
        int64_t n_constants
        int64_t constants_capacity
        fa_source *sources
        int64_t n_sources
        int64_t source_elements
        double *source_adjoint
        const double *source_tangent

    void fa_tape_init(fa_tape *tape)
    void fa_tape_free(fa_tape *tape)
    void fa_tape_truncate(fa_tape *tape, int64_t size)
    size_t fa_tape_nbytes(const fa_tape *tape)
    int64_t fa_push(fa_tape *tape, uint8_t opcode, int32_t operand0,
                    int32_t operand1, double primal) nogil
    int64_t fa_push_constant(fa_tape *tape, double c) nogil
    double fa_eval_unary(int opcode, double x) nogil
    double fa_eval_binary(int opcode, double x, double y) nogil
    int64_t fa_push_source(fa_tape *tape, int64_t node, const double *data, int64_t size)
    int64_t fa_push_element(fa_tape *tape, int64_t slot, int64_t element)
    int fa_unary_vjp(int opcode, const double *x, const double *y, const double *g,
                     double *out, int64_t n, int accumulate) nogil
    int fa_constant_vjp(int opcode, int constant_first, double c, const double *x,
                        const double *y, const double *g, double *out, int64_t n,
                        int accumulate) nogil
    int fa_extremum_vjp_f64(const double *x, const double *ans, double c, const double *g,
                            double *out, int64_t n, int accumulate) nogil
    int fa_extremum_vjp_f32(const float *x, const float *ans, double c, const float *g,
                            float *out, int64_t n, int accumulate) nogil
    int fa_array_scale_vjp(int divide, const double *a, const double *g, double *out, int64_t n,
                           int accumulate) nogil
    int fa_tune_malloc()
    void fa_advise_huge(void *block, size_t bytes)
    ctypedef struct fa_pattern:
        int64_t start
        int64_t end
        int64_t n_sources
        const int64_t **set
        int64_t *length
        uint8_t *needed
        const int64_t **source_indptr
        const int64_t **source_indices
    int fa_pattern_init(fa_pattern *p, const fa_tape *tape, int64_t start, int64_t end)
    void fa_pattern_free(fa_pattern *p)
    int64_t *fa_pattern_alloc(fa_pattern *p, int64_t n)
    int64_t fa_pattern_reach(fa_pattern *p, int64_t start_at) nogil
    int64_t fa_pattern_run(fa_pattern *p, int64_t start_at) nogil
    int64_t fa_colour_columns(int64_t n, const int64_t *row_ptr, const int64_t *row_cols,
                              const int64_t *col_ptr, const int64_t *col_rows,
                              int64_t *colour) nogil
    enum:
        FA_MOVE_DIMS
    ctypedef struct fa_move:
        int32_t ndim
        int64_t shape[8]
        int64_t to_strides[8]
        int64_t from_strides[8]
        int64_t to_offset
        int64_t from_offset
    void fa_move_simplify(fa_move *m)
    void fa_move_run(const fa_move *m, double *to, const double *src, int accumulate) nogil
    void fa_move_back(const fa_move *m, double *from_adjoint, const double *to_adjoint,
                      int accumulate) nogil
    enum:
        FA_FP_DIVIDE
        FA_FP_OVER
        FA_FP_UNDER
        FA_FP_INVALID
    ctypedef void (*fa_loop)(char **args, const Py_ssize_t *dimensions,
                             const Py_ssize_t *steps, void *data) noexcept nogil
    ctypedef struct fa_fop:
        int32_t op
        int32_t a
        int32_t b
        int32_t unused
        double c
        fa_loop loop
        fa_loop aux
        void *loop_data
        void *aux_data
    int fa_fused_check(const fa_fop *code, int32_t n_code, int32_t n_leaves)
    int64_t fa_fused_scratch(int32_t n_code, int32_t n_leaves, int64_t k)
    int fa_fused_eval(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                      const double *const *leaves, int64_t n, double *out, double *const *kept,
                      double *scratch) nogil
    int fa_fused_sum(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                     const double *const *leaves, int64_t n, int64_t chunk, double *sum,
                     double *scratch) nogil
    int fa_fused_sum_grad(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                          const double *const *leaves, int64_t n, int64_t chunk, double *sum,
                          double *const *grads, double *scratch) nogil
    int fa_fused_sum_vjp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                         const double *const *leaves, int64_t n, double g,
                         double *const *adjoints, const int *accumulate, double *const *kept,
                         double *scratch) nogil
    int fa_fused_vjp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                     const double *const *leaves, int64_t n, const double *g, double g_scalar,
                     double *const *adjoints, const int *accumulate, double *const *kept,
                     double *scratch) nogil
    int fa_fused_jvp(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                     const double *const *leaves, int64_t n, const double *const *tangents,
                     int64_t k, double *out, double *const *kept, double *scratch) nogil
    int fa_fused_jvp_strided(const fa_fop *code, int32_t n_code, int32_t n_leaves,
                             const double *const *leaves, int64_t n,
                             const double *const *tangents, const int64_t *strides, int64_t k,
                             double *out, int64_t out_stride, double *const *kept,
                             double *scratch) nogil
    int fa_series_unary(int opcode, const double *x, double *y, int d, double c,
                        double *scratch) nogil
    int fa_series_binary(int opcode, const double *a, const double *b, double *y, int d,
                         double *scratch) nogil
    int64_t fa_taylor(const fa_tape *tape, double *series, int d, int64_t start,
                      int64_t end, double *scratch) nogil
    int64_t fa_tangent(const fa_tape *tape, double *tangent, int64_t k,
                       int64_t start, int64_t end) nogil
    void fa_tangent_clear(const fa_tape *tape, double *tangent, int64_t k, int64_t start) nogil
    int64_t fa_replay(fa_tape *tape, int64_t start, int64_t end, int64_t *flipped) nogil
    int64_t fa_reverse_k(const fa_tape *tape, double *adjoint, int64_t k, int64_t start,
                         int64_t end) nogil
    int64_t fa_reverse(const fa_tape *tape, double *adjoint, int64_t start,
                       int64_t end) nogil
    enum:
        FA_NONE, FA_PLAIN, FA_RECORD_FULL
    int64_t fa_reverse_record(fa_tape *tape, int64_t *handle, double *plain, int64_t start,
                              int64_t end)
    int64_t fa_tangent_record(fa_tape *tape, int64_t *handle, double *plain, int64_t start,
                              int64_t start_at, int64_t end)
    enum:
        FA_DRY_INNER, FA_DRY_OUTER
    void fa_depends_before(const fa_tape *tape, uint8_t *outer, int64_t start, int64_t end)
    int fa_reverse_dry(const fa_tape *tape, int64_t *handle, double *plain,
                       const uint8_t *outer, int64_t start, int64_t end)
    int fa_tangent_dry(const fa_tape *tape, int64_t *handle, double *plain,
                       const uint8_t *outer, int64_t start, int64_t start_at, int64_t end)



cdef class Tape:
    cdef fa_tape c
    cdef readonly list exts
    cdef readonly list source_arrays
    cdef readonly bint active
    cdef public bint keep_all
    cdef public bint guarding
    cdef public bint kink_guards  # guard the branches of abs, maximum, max, ... too (record)
    cdef public dict guard_sources
    cdef public object plan  # the lowered replay (plan.pxi): None until made, False for none
    cdef object __weakref__
    cdef PyThread_type_lock _sweep_lock  # held by the one sweep in progress
    # the last tangent sweep's flags of the nodes it works out (_tangent_needed),
    # for nodes [_needed_start, _needed_size) and the outputs' nodes _needed_outputs
    cdef unsigned char *_needed
    # a large tangent sweep's rows, kept for the next one (_tangent_rows)
    cdef double *_tangents
    cdef int64_t _tangents_capacity
    cdef int64_t _needed_start, _needed_size
    cdef tuple _needed_outputs
    cdef unsigned long _sweeper  # the thread of that sweep (0: none)
    cdef int _begin_sweep(self) except -1
    cdef void _end_sweep(self)
    cpdef list backward(self, list seeds, list inputs)
    cdef list _backward(self, list seeds, list inputs)
    cpdef replay(self, list leaves, list values)
    cdef _replay(self, list leaves, list values, bint gradient=*)
    cdef object _push_ext(self, Ext ext, object value)
    cdef Ext _ext_of(self, int64_t node)
    cdef int _check_node(self, int64_t i) except -1
    cdef _seed(self, double *adjoint, object output, object cotangent)
    cdef object _tangent_ext(self, Ext ext, double *tangent, dict array_tangents,
                             int64_t k, bint batched)
    cdef object _read_adjoint(self, double *adjoint, object x)
    cdef _sweep(self, double *adjoint, int64_t start, int64_t end)
    cdef _reverse_ext(self, double *adjoint, int64_t node)
    cdef bint _reverse_unary_fast(self, Ext ext, int opcode, object g) except -1
    cdef _accumulate(self, double *adjoint, int64_t node, object cotangent, bint fresh=*)
    cdef tuple _shape_of(self, int64_t node)
    cdef object _flip_error(self, int64_t node)
    cdef object _plan_for(self, list leaves)
    cdef _replay_ext(self, Ext ext, int64_t node, bint gradient)
    cdef _reverse_ext_many(self, double *adjoint, dict blocks, int64_t k, int64_t node)
    cdef _accumulate_many(self, double *adjoint, dict blocks, int64_t k, int64_t node, object block)
    cdef int64_t _source_slot(self, Array x) except -1
    cdef _set_source(self, Ext ext, object value)
    cdef object _source_adjoint(self, Ext ext, int64_t k)
    cdef _store_source_tangent(self, Ext ext, object t, int64_t k, bint batched)
    cdef double *_new_adjoints(self, int64_t k) except NULL
    cdef _begin_source_tangents(self, int64_t k)
    cdef _end_source_buffers(self)


cdef class Ext:
    cdef readonly object primitive
    cdef readonly tuple args
    cdef readonly dict kwargs
    cdef readonly tuple parents
    cdef readonly tuple inputs
    cdef readonly bint guard
    cdef readonly str where
    cdef readonly object value
    cdef readonly bint scalar_out
    cdef readonly tuple shape
    cdef readonly object dtype
    cdef public object adjoint
    cdef bint adjoint_owned
    cdef public int source  # 1 + its source index when its elements are read by FA_ELEM nodes
    cdef object compiled  # a fused program's packed instructions (_Code), made on first use
    cdef object local  # a fused sum's derivatives by leaf, from its evaluation (or None)
    cdef object kept  # a fused program's function values by instruction (or None), see _run
    cdef object stacked  # a stack's scalar argument nodes and the highest, once found (or None)
    cdef add_adjoint(self, object cotangent, bint fresh=*)
    cdef add_adjoint_at(self, object index, object g)


cdef class Scalar:
    cdef readonly Tape tape
    cdef readonly int64_t node
    cdef readonly double value


cdef class Array:
    cdef readonly Tape tape
    # (read through the properties `node` and `value`, which evaluate a
    # pending array first; _node < 0 while pending)
    cdef int64_t _node
    cdef object _value
    # a pending array (see _fuse in _tape.pyx): opcode, operands (Arrays;
    # _b None for a unary or constant opcode), constant, shape, and a bound
    # on the number of instructions of its expression
    cdef int _op
    cdef Array _a
    cdef Array _b
    cdef double _c
    cdef tuple _shape
    cdef int _length
    cdef int _uses  # pending arrays built on this one (a second evaluates it: see _pending)
