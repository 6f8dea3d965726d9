# Running fused programs (included by _tape.pyx, after fused.pxi): the
# programs packed for C with NumPy's loops (_Code), their evaluation (a
# result array, a sum, or a sum with its derivatives), and the steps the
# sweeps take at a fused node: reverse (_reverse_fused: the program swept
# backward block by block, or a sum's worked-out derivatives scaled),
# tangent (_tangent_fused, k directions) and replay (_replay_fused).
# fused.pxi builds the programs; csrc/fastad_fused.c runs them.

@cython.final
cdef class _Code:
    """A fused program packed for C: its instructions, with the NumPy loops
    of its functions (made once per program, kept on its node)."""
    cdef fa_fop *code
    cdef int32_t n_code
    cdef int32_t n_leaves

    def __dealloc__(self):
        free(self.code)


cdef _Code _packed(tuple program, int n_leaves):
    """The program packed for C; ValueError for a malformed one (a corrupt
    pickle)."""
    cdef Py_ssize_t n = len(program)
    cdef _Code packed = _Code.__new__(_Code)
    packed.code = <fa_fop *>calloc(n if n else 1, sizeof(fa_fop))
    if packed.code == NULL:
        raise MemoryError("no memory for a fused program of %d instructions" % n)
    packed.n_code = <int32_t>n
    packed.n_leaves = n_leaves
    cdef fa_fop *code = packed.code
    cdef Py_ssize_t j
    cdef int op
    try:
        for j in range(n):
            op, a, b, c = program[j]
            code[j].op = op
            code[j].a = a
            code[j].b = -1 if b is None else b
            code[j].c = c
            if 0 <= op < FA_N_OPCODES:
                code[j].loop = _loops[op]
                code[j].loop_data = _loop_data[op]
                code[j].aux = _aux_loops[op]
                code[j].aux_data = _aux_data[op]
    except (TypeError, ValueError, OverflowError):
        raise ValueError("a fused program holds a malformed instruction")
    if fa_fused_check(code, <int32_t>n, n_leaves) != 0:
        raise ValueError("a fused program holds an invalid instruction (a corrupt tape?)")
    return packed


cdef _Code _code_of(Ext ext):
    """The packed program of the fused node `ext` (packed on first use)."""
    if ext.compiled is None:
        ext.compiled = _packed(ext.kwargs["program"], len(ext.args))
    return <_Code>ext.compiled


cdef list _leaf_arrays(tuple leaves, Py_ssize_t size):
    """The leaves as C-contiguous float64 arrays of `size` elements."""
    cdef list out = []
    for leaf in leaves:
        array = np.asarray(leaf, dtype=np.float64, order="C")  # (0-d stays 0-d)
        if cnp.PyArray_SIZE(<cnp.ndarray>array) != size:
            raise ValueError("the leaves of a fused program differ in size")
        out.append(array)
    return out


#: NumPy's ufunc for each fused opcode, and the constant's side (see _numpy_eval)
_NUMPY_OF_OPCODE = {
    FA_ADD: (np.add, 0), FA_SUB: (np.subtract, 0), FA_MUL: (np.multiply, 0),
    FA_DIV: (np.true_divide, 0), FA_ADDC: (np.add, 1), FA_RSUBC: (np.subtract, -1),
    FA_MULC: (np.multiply, 1), FA_DIVC: (np.true_divide, 1), FA_RDIVC: (np.true_divide, -1),
    FA_NEG: (np.negative, 0), FA_SQUARE: (np.square, 0), FA_SQRT: (np.sqrt, 0),
}
_NUMPY_OF_OPCODE.update({opcode: (ufunc, 1 if ufunc.nin == 2 else 0)
                         for opcode, ufunc, _ in _LOOP_FUNCTIONS})
_NUMPY_OF_OPCODE[FA_SIGN] = (np.sign, 0)
_NUMPY_OF_OPCODE.update({opcode: ((lambda ufunc: lambda a, b: ufunc(a, b).astype(np.float64))(ufunc), 1)
                         for opcode, ufunc in ((FA_LT, np.less), (FA_LE, np.less_equal),
                                               (FA_GT, np.greater), (FA_GE, np.greater_equal),
                                               (FA_EQ, np.equal), (FA_NE, np.not_equal))})
_FP_CATEGORIES = ((FA_FP_DIVIDE, "divide"), (FA_FP_OVER, "over"), (FA_FP_UNDER, "under"),
                  (FA_FP_INVALID, "invalid"))


cdef bint _reported(int raised):
    """Whether NumPy's error state reports any of the IEEE exceptions
    `raised` (FA_FP_* bits) instead of ignoring them."""
    state = np.geterr()
    for bit, category in _FP_CATEGORIES:
        if raised & bit and state[category] != "ignore":
            return True
    return False


cdef object _numpy_eval(tuple program, list arrays, tuple shape, bint total):
    """The program run op by op by NumPy's ufuncs: the same values as the C
    evaluation (the same IEEE operations), and the warnings or errors of
    NumPy's error state, raised where the C evaluation met an exception."""
    cdef list values = [np.reshape(a, shape) for a in arrays]
    for op, a, b, c in program:
        ufunc, side = _NUMPY_OF_OPCODE[op]
        if b is not None:
            values.append(ufunc(values[a], values[b]))
        elif side == 1:
            values.append(ufunc(values[a], c))
        elif side == -1:
            values.append(ufunc(c, values[a]))
        else:
            values.append(ufunc(values[a]))
    return float(np.add.reduce(values[-1], axis=None)) if total else values[-1]


def fused_eval(tuple program, tuple leaves, bint total):
    """Evaluate a fused program on float64 arrays of one shape: its result
    array, or with `total` the sum of its elements (as numpy.sum of that
    array rounds)."""
    cdef int n_leaves = len(leaves)
    if n_leaves == 0:
        raise ValueError("a fused program needs at least one leaf")
    return _run(_packed(program, n_leaves), program, leaves, total)


cdef inline bint _costly(int op):
    """Whether instruction `op` calls a function (exp ... arctanh, cbrt,
    reciprocal): its values are kept for the sweeps (see _run) rather than
    computed again, as an unfused operation keeps its array."""
    return op > FA_SQRT and op != FA_ABS


cdef double **_kept_pointers(list kept, Py_ssize_t size) except? NULL:
    """The data of the kept value arrays (NULL entries where none), or NULL
    for none or when their size is not `size` (freed by the caller)."""
    if kept is None:
        return NULL
    for array in kept:
        if array is not None and cnp.PyArray_SIZE(<cnp.ndarray>array) != size:
            return NULL
    cdef double **pointers = <double **>calloc(len(kept), sizeof(double *))
    if pointers == NULL:
        raise MemoryError("no memory for a fused program's kept values")
    cdef Py_ssize_t j
    for j in range(len(kept)):
        if kept[j] is not None:
            pointers[j] = <double *>cnp.PyArray_DATA(<cnp.ndarray>kept[j])
    return pointers


cdef object _run(_Code packed, tuple program, tuple leaves, bint total, Ext keep_in=None):
    """fused_eval with the program packed; with `keep_in` (the node, not a
    sum), its function instructions' values are kept in keep_in.kept for
    the sweeps."""
    cdef int n_leaves = packed.n_leaves
    if len(leaves) != n_leaves:
        raise ValueError("a fused program of %d leaves was given %d" % (n_leaves, len(leaves)))
    shape = np.shape(leaves[0])
    cdef Py_ssize_t size = _size_of(shape)
    cdef list arrays = _leaf_arrays(leaves, size)
    cdef int32_t n_code = packed.n_code
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(n_code, n_leaves, 1), sizeof(double))
    cdef double total_value = 0.0
    cdef int64_t chunk
    cdef int status
    cdef double *outp = NULL
    cdef double **kept = NULL
    cdef list kept_arrays = None
    cdef Py_ssize_t j
    try:
        if pointers == NULL or scratch == NULL:
            raise MemoryError("no memory to evaluate a fused program")
        for k in range(n_leaves):
            pointers[k] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>arrays[k])
        if keep_in is not None:
            if not total:
                for j in range(n_code):
                    if _costly(packed.code[j].op):
                        if kept_arrays is None:
                            kept_arrays = [None] * n_code
                        kept_arrays[j] = cnp.PyArray_EMPTY(
                            len(shape), cnp.PyArray_DIMS(<cnp.ndarray>arrays[0]), cnp.NPY_DOUBLE, 0)
                kept = _kept_pointers(kept_arrays, size)
            keep_in.kept = kept_arrays
        if total:
            chunk = 0 if _NUMPY_SUMS_IN_ONE_PIECE else np.getbufsize()
            with nogil:
                status = fa_fused_sum(packed.code, n_code, n_leaves, pointers, size, chunk,
                                      &total_value, scratch)
            out = total_value
        else:
            out = cnp.PyArray_EMPTY(len(shape), cnp.PyArray_DIMS(<cnp.ndarray>arrays[0]),
                                    cnp.NPY_DOUBLE, 0)
            outp = <double *>cnp.PyArray_DATA(<cnp.ndarray>out)
            with nogil:
                status = fa_fused_eval(packed.code, n_code, n_leaves, pointers, size, outp, kept,
                                       scratch)
        if status < 0:
            raise ValueError("a fused program holds an invalid instruction")
        if status > 0 and _reported(status):
            return _numpy_eval(program, arrays, shape, total)
        return out
    finally:
        free(<void *>pointers)
        free(scratch)
        free(kept)


#: a fused sum works out its derivatives while evaluating (ext.local) when
#: they take at most this many bytes: they then stay in cache until the
#: sweep scales them; larger ones are swept in blocks at the reverse step
#: (fa_fused_sum_vjp), straight into the adjoints
cdef Py_ssize_t _LOCAL_MAX_BYTES = 1 << 18


cdef inline bint _local_fits(tuple leaves, Py_ssize_t n_wanted):
    return (len(leaves) > 0 and type(leaves[0]) is _ndarray
            and cnp.PyArray_SIZE(<cnp.ndarray>leaves[0]) * n_wanted * 8 <= _LOCAL_MAX_BYTES)


cdef tuple _run_grads(_Code packed, tuple program, tuple leaves, list wanted):
    """The sum of a program's values and, where `wanted[k]`, leaf k's
    derivative of it (None elsewhere), in one pass: each block swept
    backward while its values are in cache.  The derivatives are None where
    the evaluation met an IEEE exception NumPy reports (the value is then
    NumPy's evaluation's, with its warnings)."""
    cdef int n_leaves = packed.n_leaves
    shape = np.shape(leaves[0])
    cdef Py_ssize_t size = _size_of(shape)
    cdef list arrays = _leaf_arrays(leaves, size)
    cdef int32_t n_code = packed.n_code
    cdef list grads = [None] * n_leaves
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef double **gp = <double **>calloc(n_leaves, sizeof(double *))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(n_code, n_leaves, 1), sizeof(double))
    cdef double total_value = 0.0
    cdef int64_t chunk = 0 if _NUMPY_SUMS_IN_ONE_PIECE else np.getbufsize()
    cdef int status
    cdef Py_ssize_t k
    try:
        if pointers == NULL or gp == NULL or scratch == NULL:
            raise MemoryError("no memory to evaluate a fused program")
        for k in range(n_leaves):
            pointers[k] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>arrays[k])
            if wanted[k]:
                grads[k] = cnp.PyArray_EMPTY(len(shape), cnp.PyArray_DIMS(<cnp.ndarray>arrays[k]),
                                             cnp.NPY_DOUBLE, 0)
                gp[k] = <double *>cnp.PyArray_DATA(<cnp.ndarray>grads[k])
        with nogil:
            status = fa_fused_sum_grad(packed.code, n_code, n_leaves, pointers, size, chunk,
                                       &total_value, gp, scratch)
        if status < 0:
            raise ValueError("a fused program holds an invalid instruction")
        if status > 0 and _reported(status):
            return _numpy_eval(program, arrays, shape, True), None
        return total_value, grads
    finally:
        free(<void *>pointers)
        free(gp)
        free(scratch)


cdef inline bint _uniform(object g):
    """Whether the ndarray g holds one value everywhere by construction (a
    single element, or a broadcast with every stride 0)."""
    cdef cnp.ndarray a = <cnp.ndarray>g
    cdef int k
    if cnp.PyArray_SIZE(a) == 1:
        return True
    for k in range(cnp.PyArray_NDIM(a)):
        if cnp.PyArray_STRIDES(a)[k] != 0:
            return False
    return True


cdef double *_slice_adjoint(Tape tape, Ext view, Py_ssize_t size) except? NULL:
    """Where the adjoint of `view`, a basic slice of a float64 array node
    forming a C-contiguous block of it (x[1:], x[:-1], x[2:5] of a 1-d or a
    C-ordered array), lies inside that array's adjoint, made ours here; NULL
    for other leaves.  A fused reverse step adds into it directly, instead
    of forming the slice's adjoint and scattering it afterwards."""
    if view.primitive is not _getitem_primitive or len(view.parents) != 1:
        return NULL
    index = view.args[1]
    if not _is_basic_index(index):
        return NULL
    cdef Ext base = tape._ext_of(view.parents[0][1])
    if base is None or base.scalar_out or base.dtype is not _float64:
        return NULL
    value = base.value
    if not _plain(value, value, cnp.NPY_DOUBLE):
        return NULL  # (a stand-in, or not contiguous)
    if (<object>value).shape != base.shape:
        # (a replay gave the array another shape than its record's, which its
        # adjoint has: the offset below would not lie inside that adjoint)
        return NULL
    part = value[index]
    if (type(part) is not _ndarray or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>part)
            or cnp.PyArray_SIZE(<cnp.ndarray>part) != size):
        return NULL
    cdef Py_ssize_t offset = (<char *>cnp.PyArray_DATA(<cnp.ndarray>part)
                              - <char *>cnp.PyArray_DATA(<cnp.ndarray>value))
    if offset < 0 or offset % sizeof(double) != 0:
        return NULL
    if base.adjoint is None:
        base.adjoint = np.zeros(base.shape)
        base.adjoint_owned = True
    elif not base.adjoint_owned:
        base.adjoint = _materialize(base.adjoint, base.shape, base.dtype)
        base.adjoint_owned = True
    elif not _plain(base.adjoint, value, cnp.NPY_DOUBLE):
        return NULL
    return <double *>cnp.PyArray_DATA(<cnp.ndarray>base.adjoint) + offset // sizeof(double)


cdef inline bint _plain_leaf(object leaf, Py_ssize_t size):
    """Whether a fused node's leaf is what its C steps read: a C-contiguous
    float64 ndarray of `size` elements."""
    return (type(leaf) is _ndarray and cnp.PyArray_TYPE(<cnp.ndarray>leaf) == cnp.NPY_DOUBLE
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>leaf)
            and cnp.PyArray_SIZE(<cnp.ndarray>leaf) == size)


cdef tuple _contiguous_leaves(tuple leaves, Py_ssize_t size):
    """A fused node's leaves as its C steps read them, a strided view (the
    slices of a stencil, as a replay gives them) copied into a C-contiguous
    array; None where a leaf is not a float64 ndarray of `size` elements."""
    cdef list out = []
    for leaf in leaves:
        if not _plain_leaf(leaf, size):
            if (type(leaf) is not _ndarray or cnp.PyArray_TYPE(<cnp.ndarray>leaf) != cnp.NPY_DOUBLE
                    or cnp.PyArray_SIZE(<cnp.ndarray>leaf) != size):
                return None
            leaf = np.ascontiguousarray(leaf)
        out.append(leaf)
    return tuple(out)


cdef bint _reverse_local(Tape tape, Ext ext, double g) except -1:
    """The reverse step of a fused sum whose derivatives its evaluation
    worked out (ext.local): g times them, added in place where the adjoint
    is ours; a derivative array itself becomes an adjoint for g = 1 (and the
    node then has none left: another sweep recomputes them)."""
    cdef list local = <list>ext.local
    cdef Ext target
    cdef double *dest
    cdef const double *src
    cdef Py_ssize_t i, n
    cdef bint handed = False
    for position, node in ext.parents:
        d = local[position]
        target = tape._ext_of(node)
        n = cnp.PyArray_SIZE(<cnp.ndarray>d)
        src = <const double *>cnp.PyArray_DATA(<cnp.ndarray>d)
        dest = _slice_adjoint(tape, target, n)
        if dest == NULL and (target.adjoint is not None and target.adjoint_owned
                             and _plain(target.adjoint, d, cnp.NPY_DOUBLE)):
            dest = <double *>cnp.PyArray_DATA(<cnp.ndarray>target.adjoint)
        if dest != NULL:
            with nogil:
                if g == 1.0:
                    for i in range(n):
                        dest[i] += src[i]
                else:
                    for i in range(n):
                        dest[i] += g * src[i]
        elif g == 1.0:
            target.add_adjoint((<object>d).reshape(target.shape), True)
            handed = True
        else:
            target.add_adjoint(np.multiply(d, g).reshape(target.shape), True)
    if handed:
        ext.local = None
    return True


cdef bint _reverse_fused(Tape tape, Ext ext, object g) except -1:
    """The reverse step of a fused node in C: every leaf's cotangent in one
    pass over blocks (the values recomputed per block), written into the
    leaf's adjoint in place where it is ours.  False where the cotangent or
    a leaf is not plain float64: the expanding rule then runs."""
    if ext.local is not None and PyFloat_Check(g):
        return _reverse_local(tape, ext, PyFloat_AS_DOUBLE(g))
    cdef tuple leaves = ext.args
    cdef int n_leaves = len(leaves)
    cdef Py_ssize_t size = _size_of((<object>leaves[0]).shape) if n_leaves else 0
    cdef double g_scalar = 0.0
    cdef const double *gp = NULL
    cdef Ext target
    if ext.scalar_out:
        if not PyFloat_Check(g):
            return False
        g_scalar = PyFloat_AS_DOUBLE(g)
    else:
        if size != _size_of(ext.shape):
            return False  # (leaves of another size than the record's: the rule says how)
        if type(g) is not _ndarray or cnp.PyArray_TYPE(<cnp.ndarray>g) != cnp.NPY_DOUBLE:
            return False
        if _uniform(g):
            g_scalar = (<cnp.ndarray>g).reshape(-1)[0] if cnp.PyArray_NDIM(<cnp.ndarray>g) else g[()]
        elif (<object>g).shape == ext.shape and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>g):
            gp = <const double *>cnp.PyArray_DATA(<cnp.ndarray>g)
        else:
            g = np.ascontiguousarray(np.broadcast_to(g, ext.shape))
            gp = <const double *>cnp.PyArray_DATA(<cnp.ndarray>g)
    leaves = _contiguous_leaves(leaves, size)
    if leaves is None:
        return False
    cdef _Code packed = _code_of(ext)
    cdef int32_t n_code = packed.n_code
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef double **adjoints = <double **>calloc(n_leaves, sizeof(double *))
    cdef int *accumulate = <int *>calloc(n_leaves, sizeof(int))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(n_code, n_leaves, 1), sizeof(double))
    cdef list outputs = [None] * n_leaves  # (new arrays to hand to add_adjoint)
    cdef list targets = [None] * n_leaves  # (the parent of each leaf; None: a constant)
    cdef double **kept = NULL
    cdef int status
    cdef Py_ssize_t k
    try:
        if pointers == NULL or adjoints == NULL or accumulate == NULL or scratch == NULL:
            raise MemoryError("no memory for the reverse step of a fused program")
        for position, node in ext.parents:
            targets[position] = tape._ext_of(node)
        for k in range(n_leaves):
            pointers[k] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>leaves[k])
            if targets[k] is None:
                continue  # (adjoints[k] NULL: not wanted)
            target = <Ext>targets[k]
            adjoints[k] = _slice_adjoint(tape, target, size)
            if adjoints[k] != NULL:
                accumulate[k] = 1
            elif (target.adjoint is not None and target.adjoint_owned
                    and _plain(target.adjoint, leaves[k], cnp.NPY_DOUBLE)):
                adjoints[k] = <double *>cnp.PyArray_DATA(<cnp.ndarray>target.adjoint)
                accumulate[k] = 1
            else:
                out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(<cnp.ndarray>leaves[k]),
                                        cnp.PyArray_DIMS(<cnp.ndarray>leaves[k]),
                                        cnp.NPY_DOUBLE, 0)
                outputs[k] = out
                adjoints[k] = <double *>cnp.PyArray_DATA(<cnp.ndarray>out)
        kept = _kept_pointers(ext.kept, size)
        with nogil:
            if ext.scalar_out:
                # a sum: its derivatives for cotangent 1, times g (the numbers
                # of _reverse_local, to the bit, without forming them)
                status = fa_fused_sum_vjp(packed.code, n_code, n_leaves, pointers, size,
                                          g_scalar, adjoints, accumulate, kept, scratch)
            else:
                status = fa_fused_vjp(packed.code, n_code, n_leaves, pointers, size, gp,
                                      g_scalar, adjoints, accumulate, kept, scratch)
        if status != 0:
            raise ValueError("a fused program holds an invalid instruction")
        for k in range(n_leaves):
            if outputs[k] is not None:
                target = <Ext>targets[k]
                target.add_adjoint(outputs[k].reshape(target.shape), True)
        return True
    finally:
        free(<void *>pointers)
        free(adjoints)
        free(accumulate)
        free(scratch)
        free(kept)


cdef object _tangent_fused(Ext ext, list tangents, int64_t k, bint batched):
    """The tangent step of a fused node in C: the result's tangent (k
    directions with `batched`: shape (k,) + its shape; a float, or k of
    them, for a sum) from its leaves' (`tangents`, by leaf: None where none
    reaches, else of the leaf's shape, or (k,) + it).  None where a leaf or
    a tangent is not plain float64: the expanding rule then runs."""
    cdef tuple leaves = ext.args
    cdef int n_leaves = len(leaves)
    if n_leaves == 0:
        return None
    shape = (<object>leaves[0]).shape
    cdef Py_ssize_t size = _size_of(shape)
    cdef list rows = [None] * n_leaves
    if batched and not ext.scalar_out and len(shape) == 2:
        found = _tangent_fused_rows(ext, leaves, tangents, k, shape)
        if found is not None:
            return found
    leaves = _contiguous_leaves(leaves, size)
    if leaves is None:
        return None
    for j in range(n_leaves):
        t = tangents[j]
        if t is None:
            continue
        if type(t) is not _ndarray or (<object>t).dtype.kind != "f":
            return None
        expected = ((k,) + shape) if batched else shape
        if (<object>t).shape != expected:
            return None
        rows[j] = np.asarray(t, dtype=np.float64, order="C")
    cdef int64_t directions = k if batched else 1
    out = np.empty(((k,) if batched else ()) + shape)
    # (one row of `size` elements: the leaves and tangents as they are)
    _jvp_rows(ext, tuple(leaf.reshape(1, size) for leaf in leaves),
              [None if t is None else t.reshape(directions, 1, size) for t in rows],
              1, size, directions, out)
    if ext.scalar_out:
        # (the sum of the tangents, as numpy.sum of the tangent array rounds)
        if batched:
            return np.add.reduce(out.reshape(k, size), axis=1)
        return float(np.add.reduce(out, axis=None))
    return out


cdef object _tangent_fused_rows(Ext ext, tuple leaves, list tangents, int64_t k, tuple shape):
    """The batched tangent step of a fused node over a 2-D block whose
    leaves are strided slices with contiguous rows (a stencil's u[:-2, 1:-1],
    u[1:-1, 2:] ...) and not all contiguous: row by row, the leaves and their
    tangents read where they lie instead of copied first (the copies cost
    more than the arithmetic).  None where the layout is another, or rows
    are short."""
    cdef Py_ssize_t n_rows = shape[0], n_cols = shape[1]
    cdef Py_ssize_t size = n_rows * n_cols
    cdef int n_leaves = len(leaves)
    cdef bint strided = False
    if size == 0 or n_cols < 64:  # (short rows: a call per row costs more than the copies)
        return None
    for leaf in leaves:
        if (type(leaf) is not _ndarray or cnp.PyArray_TYPE(<cnp.ndarray>leaf) != cnp.NPY_DOUBLE
                or (<object>leaf).shape != shape or (<object>leaf).strides[1] != sizeof(double)
                or (<object>leaf).strides[0] % sizeof(double) != 0):
            return None
        strided = strided or not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>leaf)
    if not strided:
        return None
    expected = (k,) + shape
    for t in tangents:
        if t is not None and (
                type(t) is not _ndarray or cnp.PyArray_TYPE(<cnp.ndarray>t) != cnp.NPY_DOUBLE
                or (<object>t).shape != expected or (<object>t).strides[2] != sizeof(double)
                or (<object>t).strides[1] % sizeof(double) != 0
                or (<object>t).strides[0] % sizeof(double) != 0):
            return None
    out = np.empty(expected)
    _jvp_rows(ext, leaves, tangents, n_rows, n_cols, k, out)
    return out


cdef int _jvp_rows(Ext ext, tuple leaves, list tangents, Py_ssize_t n_rows, Py_ssize_t n_cols,
                   int64_t k, object out) except -1:
    """fa_fused_jvp_strided over n_rows rows of n_cols elements into `out`
    (k directions of n_rows * n_cols, C order): row i of leaf j starts
    leaves[j].strides[0] bytes after row i - 1, direction d of its tangent
    tangents[j].strides[0] bytes after d - 1 and its row i strides[1] after
    i - 1 (float64 arrays with contiguous rows; a tangent may be None)."""
    cdef int n_leaves = len(leaves)
    cdef Py_ssize_t size = n_rows * n_cols
    cdef _Code packed = _code_of(ext)
    cdef Py_ssize_t n_kept = len(ext.kept) if ext.kept is not None else 0
    cdef double *outp = <double *>cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef const double **base = <const double **>calloc(n_leaves, sizeof(double *))
    cdef const double **tbase = <const double **>calloc(n_leaves, sizeof(double *))
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef const double **tp = <const double **>calloc(n_leaves, sizeof(double *))
    cdef int64_t *row_step = <int64_t *>calloc(n_leaves, sizeof(int64_t))
    cdef int64_t *trow_step = <int64_t *>calloc(n_leaves, sizeof(int64_t))
    cdef int64_t *strides = <int64_t *>calloc(n_leaves, sizeof(int64_t))
    cdef double **kept = NULL
    cdef double **kept_row = <double **>calloc(max(n_kept, 1), sizeof(double *))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(packed.n_code, n_leaves, k),
                                            sizeof(double))
    cdef Py_ssize_t i, j
    cdef int status = 0
    try:
        if (base == NULL or tbase == NULL or pointers == NULL or tp == NULL or row_step == NULL
                or trow_step == NULL or strides == NULL or kept_row == NULL or scratch == NULL):
            raise MemoryError("no memory for the tangent step of a fused program")
        for j in range(n_leaves):
            leaf = leaves[j]
            base[j] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>leaf)
            row_step[j] = (<object>leaf).strides[0] // <Py_ssize_t>sizeof(double)
            t = tangents[j]
            if t is not None:
                tbase[j] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>t)
                strides[j] = (<object>t).strides[0] // <Py_ssize_t>sizeof(double)
                trow_step[j] = (<object>t).strides[1] // <Py_ssize_t>sizeof(double)
        kept = _kept_pointers(ext.kept, size)
        with nogil:
            for i in range(n_rows):
                for j in range(n_leaves):
                    pointers[j] = base[j] + i * row_step[j]
                    tp[j] = tbase[j] + i * trow_step[j] if tbase[j] != NULL else NULL
                if kept != NULL:
                    for j in range(n_kept):
                        kept_row[j] = kept[j] + i * n_cols if kept[j] != NULL else NULL
                status = fa_fused_jvp_strided(packed.code, packed.n_code, n_leaves, pointers,
                                              n_cols, tp, strides, k, outp + i * n_cols, size,
                                              kept_row if kept != NULL else NULL, scratch)
                if status != 0:
                    break
        if status != 0:
            raise ValueError("a fused program holds an invalid instruction")
    finally:
        free(<void *>base)
        free(<void *>tbase)
        free(<void *>pointers)
        free(<void *>tp)
        free(row_step)
        free(trow_step)
        free(strides)
        free(kept_row)
        free(kept)
        free(scratch)
    return 0


cdef object _replay_fused(Ext ext, tuple leaves, bint gradient):
    """A fused node's value at its replayed leaves, its program packed once;
    with `gradient` (a reverse sweep follows), a sum's derivatives too."""
    ext.local = None
    cdef list wanted
    if gradient and ext.scalar_out and _local_fits(leaves, len(ext.parents)):
        wanted = [False] * len(leaves)
        for position, _ in ext.parents:
            wanted[position] = True
        value, ext.local = _run_grads(_code_of(ext), ext.kwargs["program"], leaves, wanted)
        return value
    return _run(_code_of(ext), ext.kwargs["program"], leaves, ext.scalar_out, ext)
