# Traced scalars (included by _tape.pyx).
#
# `Scalar` is a node of a tape and its float64 primal value, from a
# freelist and nothing else.  Arithmetic between traced scalars and with
# Python or NumPy numbers pushes one scalar node (`_binary`,
# `_with_constant`, `_unary`) with no Python call in between; anything else
# (an array operand, an unusual type) takes `_binary_slow` through
# fastad.numpy.  Comparisons record their outcome as a node, so that a
# recorded tape can check it on replay.

@cython.freelist(1024)
@cython.no_gc
@cython.final
cdef class Scalar:
    """A traced float64 scalar: a node of a tape and its primal value.

    Arithmetic with other traced scalars and with plain numbers records one
    node on the tape.  Follows NumPy float64 semantics (IEEE results such as
    inf and nan instead of Python's ZeroDivisionError).  A differentiated
    float argument is passed to the function as a Scalar; `value` is its
    primal value.

    >>> def f(x):
    ...     print(x)
    ...     return 1.0 / x
    >>> fastad.value_and_grad(f)(0.0)
    Scalar(0.0, node=0)
    (inf, -inf)
    """

    __array_priority__ = 1000

    def __repr__(self):
        return "Scalar(%r, node=%d)" % (self.value, self.node)

    def __reduce__(self):
        return (_rebuild_box, (self.tape, self.node))

    # -- NumPy-like attributes
    @property
    def shape(self):
        return ()

    @property
    def ndim(self):
        return 0

    @property
    def size(self):
        return 1

    @property
    def dtype(self):
        return np.dtype(np.float64)

    @property
    def T(self):
        return self

    # -- conversions that would lose the derivative
    def __float__(self):
        raise TypeError(_conversion_message("float"))

    def __int__(self):
        raise TypeError(_conversion_message("int"))

    def __index__(self):
        raise TypeError(_conversion_message("an index"))

    def __complex__(self):
        raise TypeError(_conversion_message("complex"))

    def __bool__(self):
        return _compare(FA_NE, self, 0.0)

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype).kind in "biu":
            # numpy.int64(x), asarray(x, int): an integer or boolean value,
            # piecewise constant (no derivative to drop), through astype,
            # which recorded tapes guard
            return np.asarray(_fnp.astype(self, dtype))
        raise TypeError(_array_message())

    def __hash__(self):
        return id(self)

    # -- arithmetic: one C node per operation (see _scalar_arithmetic)
    def __add__(self, other): return _scalar_arithmetic(FA_ADD, "add", self, other, False)
    def __radd__(self, other): return _scalar_arithmetic(FA_ADD, "add", self, other, True)
    def __sub__(self, other): return _scalar_arithmetic(FA_SUB, "subtract", self, other, False)
    def __rsub__(self, other): return _scalar_arithmetic(FA_SUB, "subtract", self, other, True)
    def __mul__(self, other): return _scalar_arithmetic(FA_MUL, "multiply", self, other, False)
    def __rmul__(self, other): return _scalar_arithmetic(FA_MUL, "multiply", self, other, True)
    def __truediv__(self, other):
        return _scalar_arithmetic(FA_DIV, "true_divide", self, other, False)
    def __rtruediv__(self, other):
        return _scalar_arithmetic(FA_DIV, "true_divide", self, other, True)

    def __pow__(self, other, modulo):
        if modulo is not None:
            return NotImplemented
        return _scalar_arithmetic(FA_POW, "power", self, other, False)

    def __rpow__(self, other, modulo):
        if modulo is not None:
            return NotImplemented
        return _scalar_arithmetic(FA_POW, "power", self, other, True)

    def __matmul__(self, other):
        return NotImplemented

    def __floordiv__(self, other):
        return _fnp.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return _fnp.floor_divide(other, self)

    def __mod__(self, other):
        return _fnp.mod(self, other)

    def __rmod__(self, other):
        return _fnp.mod(other, self)

    def __neg__(self):
        return _unary(FA_NEG, self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _scalar_abs(self)

    # -- comparisons: recorded with their outcome (branch guards for replay);
    # against arrays, elementwise as in NumPy
    def __lt__(self, other): return _scalar_compare(FA_LT, "less", self, other)
    def __le__(self, other): return _scalar_compare(FA_LE, "less_equal", self, other)
    def __gt__(self, other): return _scalar_compare(FA_GT, "greater", self, other)
    def __ge__(self, other): return _scalar_compare(FA_GE, "greater_equal", self, other)
    def __eq__(self, other): return _scalar_compare(FA_EQ, "equal", self, other)
    def __ne__(self, other): return _scalar_compare(FA_NE, "not_equal", self, other)

    # -- NumPy protocol: numpy.sin(x), ndarray + x, ... record like fastad.numpy
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _array_function(func, args, kwargs)

    # -- NumPy-like methods
    def sum(self, *args, **kwargs):
        return _fnp.sum(self, *args, **kwargs)

    def item(self):
        raise TypeError(_conversion_message("a Python number (item)"))


cdef inline Scalar _new_scalar(Tape tape, int64_t node, double value):
    cdef Scalar out = Scalar.__new__(Scalar)
    out.tape = tape
    out.node = node
    out.value = value
    return out


cdef inline Scalar _binary(int opcode, Scalar x, Scalar y):
    cdef Tape tape = x.tape
    if tape is not y.tape:
        raise _mixed_error()
    if not tape.active:
        raise _stale_error()
    cdef double value = fa_eval_binary(opcode, x.value, y.value)
    if _debug_nans and value != value and x.value == x.value and y.value == y.value:
        raise _nan_error(OPCODE_NAMES.get(opcode, "?"), (x.value, y.value))
    cdef int64_t node = fa_push(&tape.c, opcode, <int>x.node, <int>y.node, value)
    if node < 0:
        raise _tape_full_error()
    return _new_scalar(tape, node, value)


cdef inline Scalar _with_constant(int opcode, Scalar x, double c):
    cdef Tape tape = x.tape
    if not tape.active:
        raise _stale_error()
    cdef int64_t k = fa_push_constant(&tape.c, c)
    if k < 0:
        raise _tape_full_error()
    cdef double value = fa_eval_binary(opcode, x.value, c)
    if _debug_nans and value != value and x.value == x.value and c == c:
        raise _nan_error(OPCODE_NAMES.get(opcode, "?"), (x.value, c))
    cdef int64_t node = fa_push(&tape.c, opcode, <int>x.node, <int>k, value)
    if node < 0:
        raise _tape_full_error()
    return _new_scalar(tape, node, value)


cdef inline Scalar _unary(int opcode, Scalar x):
    cdef Tape tape = x.tape
    if not tape.active:
        raise _stale_error()
    cdef double value = fa_eval_unary(opcode, x.value)
    if _debug_nans and value != value and x.value == x.value:
        raise _nan_error(OPCODE_NAMES.get(opcode, "?"), (x.value,))
    cdef int64_t node = fa_push(&tape.c, opcode, <int>x.node, 0, value)
    if node < 0:
        raise _tape_full_error()
    return _new_scalar(tape, node, value)


cdef bint _is_real_number(object x):
    """Python and NumPy real scalars usable as a float64 constant."""
    if PyFloat_Check(x) or isinstance(x, int):
        return True
    return isinstance(x, np.generic) and (
        isinstance(x, np.floating) or isinstance(x, np.integer) or isinstance(x, np.bool_))


cdef object _binary_slow(int opcode, str name, Scalar x, object other,
                         bint reflected):
    """Scalar `opcode` with anything but a traced scalar or a Python float
    (`reflected`: the other operand comes first)."""
    if _is_real_number(other):
        return _scalar_with_constant(opcode, x, float(other), reflected)
    if type(other) is Array or isinstance(other, (np.ndarray, list, tuple, complex,
                                                  np.complexfloating)):
        fun = getattr(_fnp, name)
        return fun(other, x) if reflected else fun(x, other)
    return NotImplemented


cdef inline object _scalar_arithmetic(int opcode, str name, Scalar x, object other,
                                      bint reflected):
    """`x op other` (or `other op x` when `reflected`): the per-operation
    path.  Inlined with a constant opcode at each operator, so the compiler
    folds the dispatch on it away."""
    if type(other) is Scalar:
        if reflected:
            return _binary(opcode, <Scalar>other, x)
        return _binary(opcode, x, <Scalar>other)
    if PyFloat_CheckExact(other):
        return _scalar_with_constant(opcode, x, PyFloat_AS_DOUBLE(other), reflected)
    if PyLong_CheckExact(other):
        return _scalar_with_constant(opcode, x, float(other), reflected)
    return _binary_slow(opcode, name, x, other, reflected)


cdef inline object _scalar_compare(int opcode, str name, Scalar x, object other):
    """x <op> other: a recorded comparison, or against an array the
    elementwise fastad.numpy comparison `name` (a plain boolean array)."""
    if type(other) is Array or type(other) is _ndarray:
        return getattr(_fnp, name)(x, other)
    return _compare(opcode, x, other)


cdef bint _compare(int opcode, Scalar x, object other) except -1:
    cdef Tape tape = x.tape
    cdef Scalar y
    if not tape.active:
        raise _stale_error()
    if type(other) is Scalar:
        y = <Scalar>other
        if y.tape is not tape:
            raise _mixed_error()
    elif _is_real_number(other):
        y = tape.scalar_leaf(float(other))
    else:
        raise TypeError(
            "cannot compare a traced scalar with %s; compare with a number or "
            "another traced scalar" % type(other).__name__)
    cdef double outcome = fa_eval_binary(opcode, x.value, y.value)
    cdef int64_t node = fa_push(&tape.c, opcode, <int>x.node, <int>y.node, outcome)
    if node < 0:
        raise _tape_full_error()
    if tape.guarding:
        tape.guard_sources[node] = _user_source()
    return outcome != 0.0
