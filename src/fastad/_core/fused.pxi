# Fused array programs (included by _tape.pyx).
#
# On arrays of many elements, a chain of NumPy operations costs a pass over
# memory each, and an array per intermediate result; on small arrays it
# costs a call per operation; a gradient doubles both.  So elementwise
# functions of float64 arrays of one shape (+, -, *, /, negation, square,
# sqrt, the unary functions exp ... arctanh, abs, maximum and minimum, with
# each other, with Python floats or with constant arrays of that shape) do
# not compute at once: they return a *pending* array, which holds its
# operation and operands.  The first use that needs numbers (any other
# operation, .value, the sweep) evaluates the whole expression as one FA_EXT
# node of the primitive "fused": a program (see fa_fop in fastad_tape.h)
# over the expression's leaf arrays, run a block of elements at a time in
# C; a full sum of a pending array is a program too, and never forms the
# array.  The node's reverse step recomputes the block's values and sweeps
# them back in the same pass, and its tangent step (forward sweeps, one or
# many directions) sweeps them forward the same way.  Its rules in
# fastad/ops/fused.py expand the program into fastad's own operations for
# every other sweep (a sweep that records, Taylor, many cotangents).
#
# The values are NumPy's bit for bit: arithmetic is the same IEEE operation
# on the same elements, the other functions call the very inner loop that
# NumPy's ufunc runs (found once, below), and sums are in NumPy's pairwise
# order.  Piecewise functions (abs, maximum, minimum) record their branch
# for replay to check, as unfused ones do.  No fusion while debug_nans is
# on (it checks each operation's result).

#: arrays of at least this many elements fuse (smaller ones stay in cache,
#: where NumPy's own calls cost less than building a program)
cdef Py_ssize_t _FUSE_MIN_SIZE = 1 << 16
#: instructions per program at most (a longer expression evaluates its
#: operands first)
cdef int _FUSE_MAX_LENGTH = 64

cdef Primitive _fused_primitive = None
# numpy.sum's order for a contiguous float64 array: pairwise over the whole
# array from NumPy 2.0, pairwise per ufunc buffer before (fa_fused_sum)
cdef bint _NUMPY_SUMS_IN_ONE_PIECE = int(np.__version__.split(".")[0]) >= 2
# numpy.power(x, 2) of a float64 array is x * x from NumPy 2.0; NumPy 1.x's
# general power loop rounds differently (its `x ** 2` is square: Array.__pow__)
cdef bint _NUMPY_POWER_TWO_SQUARES = int(np.__version__.split(".")[0]) >= 2
cdef Primitive _sum_primitive = None
cdef Primitive _mean_primitive = None


def register_fused(Primitive fused, Primitive total, Primitive mean):
    """The primitive of fused programs, and the sum and mean primitives,
    whose full reductions of a pending array are programs too (ops/fused.py)."""
    global _fused_primitive, _sum_primitive, _mean_primitive
    _fused_primitive = fused
    _sum_primitive = total
    _mean_primitive = mean


def set_fusion_threshold(Py_ssize_t size):
    """Fuse arithmetic on float64 arrays of at least `size` elements (-1:
    never); returns the previous threshold.  Tests set 0 to fuse everything."""
    global _FUSE_MIN_SIZE
    previous = _FUSE_MIN_SIZE
    _FUSE_MIN_SIZE = size
    return previous


#: the unary functions (and maximum, minimum) that fuse through NumPy's own
#: inner loop: (opcode, ufunc, the ufunc of the function its derivative reads)
_LOOP_FUNCTIONS = (
    (FA_ABS, np.absolute, None), (FA_CBRT, np.cbrt, None),
    (FA_RECIPROCAL, np.reciprocal, None), (FA_EXP, np.exp, None), (FA_EXP2, np.exp2, None),
    (FA_EXPM1, np.expm1, None), (FA_LOG, np.log, None), (FA_LOG1P, np.log1p, None),
    (FA_LOG2, np.log2, None), (FA_LOG10, np.log10, None), (FA_SIN, np.sin, np.cos),
    (FA_COS, np.cos, np.sin), (FA_TAN, np.tan, None), (FA_ASIN, np.arcsin, None),
    (FA_ACOS, np.arccos, None), (FA_ATAN, np.arctan, None), (FA_SINH, np.sinh, np.cosh),
    (FA_COSH, np.cosh, np.sinh), (FA_TANH, np.tanh, None), (FA_ASINH, np.arcsinh, None),
    (FA_ACOSH, np.arccosh, None), (FA_ATANH, np.arctanh, None),
    (FA_MAXIMUM, np.maximum, None), (FA_MINIMUM, np.minimum, None),
)
# per opcode: NumPy's float64 loop (NULL: the opcode does not fuse) and its data
cdef fa_loop _loops[FA_N_OPCODES]
cdef void *_loop_data[FA_N_OPCODES]
cdef fa_loop _aux_loops[FA_N_OPCODES]
cdef void *_aux_data[FA_N_OPCODES]


cdef bint _find_loop(object ufunc, fa_loop *loop, void **data):
    """NumPy's inner loop of `ufunc` for float64 operands and result (the
    loop the ufunc itself runs on float64 arrays); False if it has none."""
    cdef cnp.ufunc u = <cnp.ufunc>ufunc
    cdef int nargs = u.nin + u.nout
    cdef int i, k
    for i in range(u.ntypes):
        for k in range(nargs):
            if u.types[i * nargs + k] != cnp.NPY_DOUBLE:
                break
        else:
            if u.functions[i] == NULL:
                return False
            loop[0] = <fa_loop><void *>u.functions[i]  # (float64 loops need no GIL)
            data[0] = u.data[i]
            return True
    return False


def _init_loops():
    for opcode, ufunc, aux in _LOOP_FUNCTIONS:
        if not _find_loop(ufunc, &_loops[<int>opcode], &_loop_data[<int>opcode]):
            continue
        if aux is not None and not _find_loop(aux, &_aux_loops[<int>opcode],
                                              &_aux_data[<int>opcode]):
            _loops[<int>opcode] = NULL


_init_loops()

#: the opcodes of fused programs, by name (the rules of ops/fused.py use it)
FUSED_OPCODES = {
    "add": FA_ADD, "subtract": FA_SUB, "multiply": FA_MUL, "true_divide": FA_DIV,
    "add_constant": FA_ADDC, "constant_minus": FA_RSUBC, "multiply_constant": FA_MULC,
    "divide_constant": FA_DIVC, "constant_divide": FA_RDIVC, "negative": FA_NEG,
    "square": FA_SQUARE, "sqrt": FA_SQRT,
}
FUSED_OPCODES.update({ufunc.__name__: opcode for opcode, ufunc, _ in _LOOP_FUNCTIONS
                      if _loops[<int>opcode] != NULL})


cdef inline Py_ssize_t _size_of(tuple shape):
    cdef Py_ssize_t n = 1
    for d in shape:
        n *= <Py_ssize_t>d
    return n


cdef inline Array _forced(Array x):
    """x, evaluated first if pending."""
    if x._op:
        _evaluate(x)
    return x


cdef inline bint _fusable(Array x):
    """Whether x may be an operand of a pending array."""
    if x._op:
        return True
    if _FUSE_MIN_SIZE < 0 or _debug_nans:
        return False
    cdef object v = x._value
    return (type(v) is _ndarray and cnp.PyArray_TYPE(<cnp.ndarray>v) == cnp.NPY_DOUBLE
            and cnp.PyArray_SIZE(<cnp.ndarray>v) >= _FUSE_MIN_SIZE
            and cnp.PyArray_SIZE(<cnp.ndarray>v) > 0)


cdef inline tuple _shape_of_array(Array x):
    return x._shape if x._op else (<object>x._value).shape


cdef inline int _length(Array x):
    return x._length if x._op else 0


cdef Array _pending(int op, Array a, Array b, double c):
    """The pending result of `op` on a (and b, or the constant c)."""
    if _length(a) + (_length(b) if b is not None else 0) + 1 > _FUSE_MAX_LENGTH:
        _forced(a)
        if b is not None:
            _forced(b)
    cdef Array out = Array.__new__(Array)
    out.tape = a.tape
    out._node = -1
    out._value = None
    out._op = op
    out._a = a
    out._b = b
    out._c = c
    out._shape = _shape_of_array(a)
    out._length = 1 + _length(a) + (_length(b) if b is not None else 0)
    return out


cdef Array _constant_leaf(Array like, object value):
    """A leaf of a pending array that is a constant array (no node)."""
    cdef Array out = Array.__new__(Array)
    out.tape = like.tape
    out._node = -1
    out._value = value
    out._op = 0
    return out


cdef object _fusable_constant(object value, tuple shape):
    """`value` as a C-contiguous float64 array, if it can be a constant leaf
    beside arrays of `shape`: a real ndarray of that shape whose dtype NumPy
    casts to float64 (float64, float32, float16, integers, bools: exactly
    the cast NumPy's own loop applies first); None otherwise."""
    if type(value) is not _ndarray or (<object>value).shape != shape:
        return None
    cdef int typenum = cnp.PyArray_TYPE(<cnp.ndarray>value)
    if typenum != cnp.NPY_DOUBLE and not (
            cnp.PyTypeNum_ISINTEGER(typenum) or cnp.PyTypeNum_ISBOOL(typenum)
            or typenum == cnp.NPY_FLOAT or typenum == cnp.NPY_FLOAT16):
        return None
    return np.asarray(value, dtype=np.float64, order="C")  # (0-d stays 0-d)


cdef _guard_branch(Primitive prim, Array x, object other, bint other_first):
    """Record the branch that the piecewise `prim` (abs, maximum, minimum)
    takes at x (and `other`: a traced array, a float or a constant array),
    as _record does for an unfused one: replay checks it."""
    cdef Primitive kink = <Primitive>prim.kink
    _forced(x)
    cdef list raw = [x._value]
    cdef list inputs = [(0, x._node)]
    if other is not None:
        if type(other) is Array:
            _forced(<Array>other)
            raw.append((<Array>other)._value)
            inputs.append((1, (<Array>other)._node))
        else:
            raw.append(other)
        if other_first:
            raw.reverse()
            inputs = [(1 - position, node) for position, node in inputs]
    _push_guard(x.tape, kink, raw, None, inputs, kink.fun(*raw))


cdef object _try_fuse(Primitive prim, Array x, object right, object left):
    """The pending array of the elementwise `prim` on x (with `right`, a
    traced array, a float or a constant array, or with the float or the
    constant array `left` before x), or None where it does not fuse."""
    cdef int opcode = prim.opcode
    cdef Array other = None
    cdef double c = 0.0
    if not _fusable(x) or not x.tape.active:
        return None
    cdef bint extremum = opcode == FA_MAXIMUM or opcode == FA_MINIMUM
    cdef bint guard = x.tape.kink_guards and prim.kink is not None
    if extremum and _loops[opcode] == NULL:
        return None
    if right is None and left is None:
        if opcode == FA_NEG or opcode == FA_SQUARE or opcode == FA_SQRT:
            return _pending(opcode, x, None, 0.0)
        if FA_NEG <= opcode < FA_N_OPCODES and _loops[opcode] != NULL:
            if guard:
                _guard_branch(prim, x, None, False)
            return _pending(opcode, x, None, 0.0)
        return None
    if not (FA_ADD <= opcode <= FA_DIV or extremum or opcode == FA_POW):
        return None
    if type(right) is Array:
        other = <Array>right
        if (opcode == FA_POW or not _fusable(other)
                or _shape_of_array(other) != _shape_of_array(x)):
            return None
        if guard:
            _guard_branch(prim, x, other, False)
        return _pending(opcode, x, other, 0.0)
    if type(right) is _ndarray or type(left) is _ndarray:
        constant = _fusable_constant(right if left is None else left, _shape_of_array(x))
        if constant is None or opcode == FA_POW:
            return None
        if guard:
            _guard_branch(prim, x, right if left is None else left, left is not None)
        if left is None:
            return _pending(opcode, x, _constant_leaf(x, constant), 0.0)
        return _pending(opcode, _constant_leaf(x, constant), x, 0.0)
    if left is None:  # x op c
        c = PyFloat_AS_DOUBLE(right)
        if opcode == FA_ADD:
            return _pending(FA_ADDC, x, None, c)
        if opcode == FA_SUB:
            return _pending(FA_ADDC, x, None, -c)  # (x - c rounds as x + (-c))
        if opcode == FA_MUL:
            return _pending(FA_MULC, x, None, c)
        if opcode == FA_DIV:
            return _pending(FA_DIVC, x, None, c)
        if opcode == FA_POW and c == 2.0 and _NUMPY_POWER_TWO_SQUARES:
            return _pending(FA_SQUARE, x, None, 0.0)  # (NumPy's x ** 2 is x * x)
        if extremum:
            if guard:
                _guard_branch(prim, x, right, False)
            return _pending(opcode, x, None, c)
        return None
    c = PyFloat_AS_DOUBLE(left)  # c op x
    if opcode == FA_ADD:
        return _pending(FA_ADDC, x, None, c)
    if opcode == FA_SUB:
        return _pending(FA_RSUBC, x, None, c)
    if opcode == FA_MUL:
        return _pending(FA_MULC, x, None, c)
    if opcode == FA_DIV:
        return _pending(FA_RDIVC, x, None, c)
    # (maximum(c, x) is not fused: NumPy's loop is not symmetric in signed
    # zeros, and the program's constant operand comes second)
    return None


cdef int _emit(Array x, list code, dict numbers, list leaves, dict leaf_numbers) except? -2147483647:
    """Append the instructions of pending x (operands first) to `code`;
    returns x's operand reference: instruction j as j, leaf k as -1 - k."""
    cdef object key
    if not x._op:
        key = x._node if x._node >= 0 else ("constant", id(x))
        k = leaf_numbers.get(key)
        if k is None:
            k = len(leaves)
            leaf_numbers[key] = k
            leaves.append(x)
        return -1 - <int>k
    key = id(x)
    j = numbers.get(key)
    if j is not None:
        return <int>j
    cdef int a = _emit(x._a, code, numbers, leaves, leaf_numbers)
    cdef int b = _emit(x._b, code, numbers, leaves, leaf_numbers) if x._b is not None else 0
    code.append((x._op, a, b if x._b is not None else None, x._c))
    numbers[key] = len(code) - 1
    return len(code) - 1


cdef inline int _register(int ref, int n_leaves):
    return n_leaves + ref if ref >= 0 else -1 - ref


cdef tuple _program(Array root):
    """(program, leaves) of the pending array root: a tuple of instructions
    (opcode, a, b or None, constant) whose operand registers number the
    leaves first (leaf k is k), then the instructions (j is n_leaves + j)."""
    cdef list code = []
    cdef list leaves = []
    _emit(root, code, {}, leaves, {})
    cdef int n = len(leaves)
    return tuple([(op, _register(a, n), None if b is None else _register(b, n), c)
                  for op, a, b, c in code]), leaves


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


cdef object _run(_Code packed, tuple program, tuple leaves, bint total):
    """fused_eval with the program packed."""
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
    try:
        if pointers == NULL or scratch == NULL:
            raise MemoryError("no memory to evaluate a fused program")
        for k in range(n_leaves):
            pointers[k] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>arrays[k])
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
                status = fa_fused_eval(packed.code, n_code, n_leaves, pointers, size, outp,
                                       scratch)
        if status < 0:
            raise ValueError("a fused program holds an invalid instruction")
        if status > 0 and _reported(status):
            return _numpy_eval(program, arrays, shape, total)
        return out
    finally:
        free(<void *>pointers)
        free(scratch)


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


cdef object _evaluate(Array x, bint total=False):
    """Record pending x as one fused node and make x that node's array; with
    `total`, record the sum of x's elements instead (x stays pending) and
    return that traced scalar."""
    # (a closed tape still takes the node: every operation of x was asked for
    # while it recorded, and the operator reads its output after closing it)
    cdef Tape tape = x.tape
    program, leaves = _program(x)
    cdef list values = [(<Array>leaf)._value for leaf in leaves]
    cdef tuple args = tuple(_leaf_arrays(tuple(values), _size_of(x._shape)))
    cdef _Code packed = _packed(program, len(args))
    local = None
    if total and not tape.keep_all and not tape.guarding:
        # (a first-order reverse sweep will ask for the derivatives: worked
        # out now, with the values in cache, instead of recomputed then)
        value, local = _run_grads(packed, program, args,
                                  [(<Array>leaf)._node >= 0 for leaf in leaves])
    else:
        value = _run(packed, program, args, total)
    cdef Ext ext = Ext.__new__(Ext)
    ext.primitive = _fused_primitive
    ext.compiled = packed
    ext.local = local
    ext.kwargs = {"program": program, "total": True} if total else {"program": program}
    # (constant leaves have no node: they are arguments, not parents)
    ext.parents = tuple([(k, (<Array>leaves[k])._node) for k in range(len(leaves))
                         if (<Array>leaves[k])._node >= 0])
    ext.inputs = ext.parents
    ext.args = args
    ext.value = value
    ext.scalar_out = total
    ext.shape = () if total else x._shape
    ext.dtype = _float64
    result = tape._push_ext(ext, value)
    if total:
        return result
    x._node = (<Array>result)._node
    x._value = value
    x._op = 0
    x._a = None
    x._b = None
    return x


cdef object _fused_sum(Array x):
    """sum(x) of a pending array: one program, no array formed."""
    return _evaluate(x, True)


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
    for leaf in leaves:
        if not (type(leaf) is _ndarray and cnp.PyArray_TYPE(<cnp.ndarray>leaf) == cnp.NPY_DOUBLE
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>leaf)
                and cnp.PyArray_SIZE(<cnp.ndarray>leaf) == size):
            return False
    cdef _Code packed = _code_of(ext)
    cdef int32_t n_code = packed.n_code
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef double **adjoints = <double **>calloc(n_leaves, sizeof(double *))
    cdef int *accumulate = <int *>calloc(n_leaves, sizeof(int))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(n_code, n_leaves, 1), sizeof(double))
    cdef list outputs = [None] * n_leaves  # (new arrays to hand to add_adjoint)
    cdef list targets = [None] * n_leaves  # (the parent of each leaf; None: a constant)
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
        with nogil:
            status = fa_fused_vjp(packed.code, n_code, n_leaves, pointers, size, gp, g_scalar,
                                  adjoints, accumulate, scratch)
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
    for j in range(n_leaves):
        leaf = leaves[j]
        if not (type(leaf) is _ndarray and cnp.PyArray_TYPE(<cnp.ndarray>leaf) == cnp.NPY_DOUBLE
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>leaf)
                and cnp.PyArray_SIZE(<cnp.ndarray>leaf) == size):
            return None
        t = tangents[j]
        if t is None:
            continue
        if type(t) is not _ndarray or (<object>t).dtype.kind != "f":
            return None
        expected = ((k,) + shape) if batched else shape
        if (<object>t).shape != expected:
            return None
        rows[j] = np.asarray(t, dtype=np.float64, order="C")
    cdef _Code packed = _code_of(ext)
    cdef int32_t n_code = packed.n_code
    cdef int64_t directions = k if batched else 1
    out = np.empty(((k,) if batched else ()) + shape)
    cdef double *outp = <double *>cnp.PyArray_DATA(<cnp.ndarray>out)
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef const double **tp = <const double **>calloc(n_leaves, sizeof(double *))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(n_code, n_leaves, directions),
                                            sizeof(double))
    cdef int status
    try:
        if pointers == NULL or tp == NULL or scratch == NULL:
            raise MemoryError("no memory for the tangent step of a fused program")
        for j in range(n_leaves):
            pointers[j] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>leaves[j])
            if rows[j] is not None:
                tp[j] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>rows[j])
        with nogil:
            status = fa_fused_jvp(packed.code, n_code, n_leaves, pointers, size, tp,
                                  directions, outp, scratch)
        if status != 0:
            raise ValueError("a fused program holds an invalid instruction")
    finally:
        free(<void *>pointers)
        free(<void *>tp)
        free(scratch)
    if ext.scalar_out:
        # (the sum of the tangents, as numpy.sum of the tangent array rounds)
        if batched:
            return np.add.reduce(out.reshape(k, size), axis=1)
        return float(np.add.reduce(out, axis=None))
    return out


cdef object _replay_fused(Ext ext, tuple leaves, bint gradient):
    """A fused node's value at its replayed leaves, its program packed once;
    with `gradient` (a reverse sweep follows), a sum's derivatives too."""
    ext.local = None
    cdef list wanted
    if gradient and ext.scalar_out:
        wanted = [False] * len(leaves)
        for position, _ in ext.parents:
            wanted[position] = True
        value, ext.local = _run_grads(_code_of(ext), ext.kwargs["program"], leaves, wanted)
        return value
    return _run(_code_of(ext), ext.kwargs["program"], leaves, ext.scalar_out)
