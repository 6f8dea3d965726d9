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
# array.  The node's reverse step recomputes the block's arithmetic (the
# functions' values are kept from the evaluation, as unfused operations keep
# their arrays) and sweeps it back in the same pass; a sum's derivatives are
# worked out while it is evaluated where they fit in cache.  Its tangent
# step (forward sweeps, one or many directions) sweeps forward the same way
# (fused_run.pxi).  Its rules in fastad/ops/fused.py expand the program into
# fastad's own operations for every other sweep (a sweep that records,
# Taylor, many cotangents).  A program of one instruction records as the
# operation itself.
#
# The values are NumPy's bit for bit: arithmetic is the same IEEE operation
# on the same elements, the other functions call the very inner loop that
# NumPy's ufunc runs (found once, below), and sums are in NumPy's pairwise
# order.  Piecewise functions (abs, maximum, minimum) record their branch
# for replay to check, as unfused ones do.  No fusion while debug_nans is
# on (it checks each operation's result).

#: arrays of at least this many elements fuse: every size (a chain of
#: operations on small arrays costs a call each, which a program saves)
cdef Py_ssize_t _FUSE_MIN_SIZE = 0
#: instructions per program at most (a longer expression evaluates its
#: operands first)
cdef int _FUSE_MAX_LENGTH = 128

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
# sign and the comparisons (1.0 or 0.0), in C: no derivative flows through
# them.  Traced expressions do not fuse them; the programs of derivatives
# read them (ops/fused.py: abs's sign, the shares of maximum and minimum).
FUSED_OPCODES.update({"sign": FA_SIGN, "less": FA_LT, "less_equal": FA_LE, "greater": FA_GT,
                      "greater_equal": FA_GE, "equal": FA_EQ, "not_equal": FA_NE})


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


cdef inline int _use(Array x) except -1:
    """Note an expression built on x; a pending x used by a second one is
    evaluated first, as a node of its own: each expression would otherwise
    compute it again (a recurrence like an LSTM's cell state, read by its
    output and by the next step, would grow programs of every earlier step
    until the length limit)."""
    if x._op:
        if x._uses:
            _evaluate(x)
        else:
            x._uses = 1
    return 0


cdef Array _pending(int op, Array a, Array b, double c):
    """The pending result of `op` on a (and b, or the constant c)."""
    _use(a)
    if b is not None and b is not a:
        _use(b)
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
    as _record does for an unfused one: replay checks it.  Its operands are
    evaluated first (see _try_fuse), so it reads nodes."""
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
    if prim.kink is not None:
        # A piecewise function starts a program of its own, with or without
        # its branch recorded (record guards it, grad does not): the two then
        # build the same programs and agree to the bit.
        _forced(x)
        if type(right) is Array:
            _forced(<Array>right)
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


cdef object _evaluate(Array x, bint total=False):
    """Record pending x as one fused node and make x that node's array; with
    `total`, record the sum of x's elements instead (x stays pending) and
    return that traced scalar."""
    # (a closed tape still takes the node: every operation of x was asked for
    # while it recorded, and the operator reads its output after closing it)
    cdef Tape tape = x.tape
    program, leaves = _program(x)
    if not total and len(<tuple>program) == 1 and x._shape != () and tape.active:
        # (a 0-d array stays one: NumPy's operations on it give a scalar,
        # which the unfused operation would record as a traced float)
        return _evaluate_single(x, (<tuple>program)[0], leaves)
    cdef list values = [(<Array>leaf)._value for leaf in leaves]
    cdef tuple args = tuple(_leaf_arrays(tuple(values), _size_of(x._shape)))
    cdef _Code packed = _packed(program, len(args))
    local = None
    cdef Ext ext = Ext.__new__(Ext)
    if (total and not tape.keep_all and not tape.guarding
            and _local_fits(args, len([1 for leaf in leaves if (<Array>leaf)._node >= 0]))):
        # (a first-order reverse sweep will ask for the derivatives: worked
        # out now, with the values in cache, instead of recomputed then)
        value, local = _run_grads(packed, program, args,
                                  [(<Array>leaf)._node >= 0 for leaf in leaves])
    else:
        value = _run(packed, program, args, total, ext)
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


def record_program(tuple program, tuple leaves, bint total=False):
    """Record `program` on `leaves` (float64 arrays of one shape: traced
    arrays of one tape, its parents, and constant arrays) as one fused node,
    as a pending array's evaluation records it (its functions' values kept
    for the sweeps; with `total`, the sum of its values, a traced scalar);
    returns the traced result, or None where the leaves are
    not for it or debug_nans is on (it checks each operation: the caller's
    rules record them one by one).  The programs of recorded reverse and
    tangent sweeps (ops/fused_reverse.py) record this way."""
    if _debug_nans or not leaves:
        return None
    cdef Tape tape = None
    cdef list values = []
    cdef list parents = []
    cdef Py_ssize_t k
    shape = None
    for k in range(len(leaves)):
        leaf = leaves[k]
        if type(leaf) is Array:
            if tape is None:
                tape = (<Array>leaf).tape
            elif (<Array>leaf).tape is not tape:
                return None
            _forced(<Array>leaf)
            parents.append((k, (<Array>leaf)._node))
            value = (<Array>leaf)._value
        else:
            value = leaf
        if type(value) is not _ndarray or cnp.PyArray_TYPE(<cnp.ndarray>value) != cnp.NPY_DOUBLE:
            return None
        if shape is None:
            shape = (<object>value).shape
        elif (<object>value).shape != shape:
            return None
        values.append(value)
    if tape is None:
        return None
    cdef tuple args = tuple(_leaf_arrays(tuple(values), _size_of(shape)))
    cdef _Code packed = _packed(program, len(args))
    cdef Ext ext = Ext.__new__(Ext)
    value = _run(packed, program, args, total, ext)
    ext.primitive = _fused_primitive
    ext.compiled = packed
    ext.kwargs = {"program": program, "total": True} if total else {"program": program}
    ext.parents = tuple(parents)
    ext.inputs = ext.parents
    ext.args = args
    ext.value = value
    ext.scalar_out = total
    ext.shape = () if total else shape
    ext.dtype = _float64
    return tape._push_ext(ext, value)


cdef object _evaluate_single(Array x, tuple instruction, list leaves):
    """Record pending x of one instruction as the operation itself (a
    program of one costs more than the operation's own node)."""
    op, a, b, c = instruction
    cdef list operands = []
    for leaf in leaves:
        operands.append(leaf if (<Array>leaf)._node >= 0 else (<Array>leaf)._value)
    cdef object first = operands[a]
    cdef tuple args
    cdef Primitive prim
    if op == FA_ADDC:
        prim, args = _binary_primitives[FA_ADD], (first, c)
    elif op == FA_RSUBC:
        prim, args = _binary_primitives[FA_SUB], (c, first)
    elif op == FA_MULC:
        prim, args = _binary_primitives[FA_MUL], (first, c)
    elif op == FA_DIVC:
        prim, args = _binary_primitives[FA_DIV], (first, c)
    elif op == FA_RDIVC:
        prim, args = _binary_primitives[FA_DIV], (c, first)
    elif op < FA_NEG:  # (add ... divide, maximum, minimum)
        prim, args = _binary_primitives[op], (first, c if b is None else operands[b])
    else:
        prim, args = _unary_primitives[op], (first,)
    cdef Tape tape = x.tape
    cdef bint kink_guards = tape.kink_guards
    tape.kink_guards = False  # (the branch is recorded already: _guard_branch)
    try:
        result = _record(prim, args, {})
    finally:
        tape.kink_guards = kink_guards
    if type(result) is not Array:
        raise AssertionError("%s of an array gave %s" % (prim.name, type(result).__name__))
    x._node = (<Array>result)._node
    x._value = (<Array>result)._value
    x._op = 0
    x._a = None
    x._b = None
    return x


cdef object _fused_sum(Array x):
    """sum(x) of a pending array: one program, no array formed."""
    return _evaluate(x, True)
