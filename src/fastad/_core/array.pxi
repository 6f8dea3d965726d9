# Traced arrays and NumPy's protocols (included by _tape.pyx).
#
# `Array` is a node of a tape and its ndarray value, or a pending array of
# fused.pxi (an expression not yet evaluated: `node` and `value` evaluate
# it).  Its operators and methods record through fastad.numpy.  Reading one
# element of a float64 array by integers, x[i], records a scalar FA_ELEM
# node instead of an array operation: the array becomes a *source* of the
# tape once, and a Python loop over its elements records, replays and
# sweeps in C.  `__array_ufunc__` and `__array_function__` (NEP 13 and 18)
# send numpy.f(traced) to fastad.numpy's f, and refuse what has no rule.

# --------------------------------------------------------------------------
# Element access

cdef Py_ssize_t _MAX_ELEMENTS = 2147483647  # element indices are 32-bit operands


cdef Py_ssize_t _flat_index(object value, object index) except -2:
    """The C-order flat position of `index` in `value` when it names one
    element by integers (negative ones count from the end); -1 for any
    other index.  Raises IndexError as NumPy does for an integer out of
    bounds."""
    cdef tuple shape = (<object>value).shape
    cdef Py_ssize_t ndim = len(shape), axis, i, n, flat = 0
    if type(index) is int:
        if ndim != 1:
            return -1
        items = (index,)
    elif type(index) is tuple and len(<tuple>index) == ndim and ndim > 0:
        items = index
        for item in items:
            if type(item) is not int:
                return -1
    else:
        return -1
    for axis in range(ndim):
        n = shape[axis]
        item = items[axis]
        if not -n <= item < n:
            raise IndexError("index %d is out of bounds for axis %d with size %d"
                             % (item, axis, n))
        i = item
        if i < 0:
            i += n
        flat = flat * n + i
    return flat


cdef Scalar _element(Array x, Py_ssize_t flat):
    cdef Tape tape = x.tape
    cdef int64_t slot = tape._source_slot(x)
    cdef int64_t node = fa_push_element(&tape.c, slot, flat)
    if node < 0:
        raise _tape_full_error()
    return _new_scalar(tape, node, tape.c.primal[node])


# --------------------------------------------------------------------------
# Traced arrays

@cython.freelist(1024)
@cython.no_gc
@cython.final
cdef class Array:
    """A traced ndarray: a node of a tape and its primal value.  Operators
    and methods record through fastad.numpy.  A differentiated float array
    argument is passed to the function as an Array; `value` is its primal
    value, and `shape`, `dtype`, `ndim` and `size` are the value's.

    >>> def f(x):
    ...     print(x, x.shape)
    ...     return np.sum(x * x)
    >>> fastad.grad(f)(np.array([1.0, 2.0]))
    Array(array([1., 2.]), node=0) (2,)
    array([2., 4.])
    """

    __array_priority__ = 1000

    def __repr__(self):
        return "Array(%r, node=%d)" % (self.value, self.node)

    def __reduce__(self):
        return (_rebuild_box, (self.tape, self.node))

    @property
    def node(self):
        """The tape node of this array (a pending array is evaluated first)."""
        return _forced(self)._node

    @property
    def value(self):
        """The primal ndarray (a pending array is evaluated first)."""
        return _forced(self)._value

    @property
    def shape(self):
        return self._shape if self._op else self._value.shape

    @property
    def ndim(self):
        return len(self._shape) if self._op else self._value.ndim

    @property
    def size(self):
        return _size_of(self._shape) if self._op else self._value.size

    @property
    def dtype(self):
        return _float64 if self._op else self._value.dtype

    @property
    def T(self):
        return _fnp.transpose(self)

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        if self.value.ndim == 0:
            raise TypeError("iteration over a 0-d traced array")
        return (self[i] for i in range(len(self.value)))

    def __getitem__(self, index):
        cdef Py_ssize_t flat
        value = _forced(self)._value
        if (<object>value).dtype is _float64 and self.tape.active and (<object>value).size <= _MAX_ELEMENTS:
            flat = _flat_index(value, index)
            if flat >= 0:
                return _element(self, flat)
        return _fnp._getitem(self, index)

    def __setitem__(self, index, value):
        raise TypeError(
            "traced arrays are immutable: item assignment would bypass the "
            "tape. Build the array with fastad.numpy.where, concatenate or "
            "stack instead.")

    def __float__(self):
        raise TypeError(_conversion_message("float"))

    def __int__(self):
        raise TypeError(_conversion_message("int"))

    def __index__(self):
        raise TypeError(_conversion_message("an index"))

    def __complex__(self):
        raise TypeError(_conversion_message("complex"))

    def __bool__(self):
        raise TypeError(
            "the truth value of a traced array is ambiguous: use "
            "fastad.numpy.where, or compare scalars (x[i] > 0)")

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype).kind in "biu":
            # numpy.int64(x), asarray(x, int): an integer or boolean value,
            # piecewise constant (no derivative to drop), through astype,
            # which recorded tapes guard
            return np.asarray(_fnp.astype(self, dtype))
        raise TypeError(_array_message())

    def __hash__(self):
        return id(self)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _array_function(func, args, kwargs)

    # arithmetic goes straight to the primitives (no module lookup per operation)
    def __add__(self, other): return _binary_fast(FA_ADD, self, other)
    def __radd__(self, other): return _binary_fast(FA_ADD, other, self)
    def __sub__(self, other): return _binary_fast(FA_SUB, self, other)
    def __rsub__(self, other): return _binary_fast(FA_SUB, other, self)
    def __mul__(self, other): return _binary_fast(FA_MUL, self, other)
    def __rmul__(self, other): return _binary_fast(FA_MUL, other, self)
    def __truediv__(self, other): return _binary_fast(FA_DIV, self, other)
    def __rtruediv__(self, other): return _binary_fast(FA_DIV, other, self)
    def __floordiv__(self, other): return _fnp.floor_divide(self, other)
    def __rfloordiv__(self, other): return _fnp.floor_divide(other, self)
    def __mod__(self, other): return _fnp.mod(self, other)
    def __rmod__(self, other): return _fnp.mod(other, self)
    def __matmul__(self, other): return _fnp.matmul(self, other)
    def __rmatmul__(self, other): return _fnp.matmul(other, self)
    def __neg__(self): return _unary_fast(FA_NEG, self)
    def __pos__(self): return self
    def __abs__(self): return _fnp.abs(self)

    def __pow__(self, other, modulo):
        if modulo is not None:
            return NotImplemented
        return _fnp._power_operator(self, other)  # (NumPy's `**`: numpy.power but on 1.x)

    def __rpow__(self, other, modulo):
        if modulo is not None:
            return NotImplemented
        return _fnp.power(other, self)

    def __lt__(self, other): return _fnp.less(self, other)
    def __le__(self, other): return _fnp.less_equal(self, other)
    def __gt__(self, other): return _fnp.greater(self, other)
    def __ge__(self, other): return _fnp.greater_equal(self, other)
    def __eq__(self, other): return _fnp.equal(self, other)
    def __ne__(self, other): return _fnp.not_equal(self, other)

    # -- NumPy-like methods
    def sum(self, *args, **kwargs): return _fnp.sum(self, *args, **kwargs)
    def mean(self, *args, **kwargs): return _fnp.mean(self, *args, **kwargs)
    def prod(self, *args, **kwargs): return _fnp.prod(self, *args, **kwargs)
    def max(self, *args, **kwargs): return _fnp.max(self, *args, **kwargs)
    def min(self, *args, **kwargs): return _fnp.min(self, *args, **kwargs)
    def dot(self, other): return _fnp.dot(self, other)
    def transpose(self, *axes):
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return _fnp.transpose(self, axes if axes else None)
    def reshape(self, *shape, **kwargs):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _fnp.reshape(self, shape, **kwargs)
    def ravel(self): return _fnp.ravel(self)
    def flatten(self): return _fnp.ravel(self)
    def squeeze(self, axis=None): return _fnp.squeeze(self, axis)
    def clip(self, a_min=None, a_max=None): return _fnp.clip(self, a_min, a_max)
    def var(self, *args, **kwargs): return _fnp.var(self, *args, **kwargs)
    def std(self, *args, **kwargs): return _fnp.std(self, *args, **kwargs)
    def cumsum(self, *args, **kwargs): return _fnp.cumsum(self, *args, **kwargs)
    def cumprod(self, *args, **kwargs): return _fnp.cumprod(self, *args, **kwargs)
    def trace(self, *args, **kwargs): return _fnp.trace(self, *args, **kwargs)
    def diagonal(self, *args, **kwargs): return _fnp.diagonal(self, *args, **kwargs)
    def repeat(self, *args, **kwargs): return _fnp.repeat(self, *args, **kwargs)
    def take(self, *args, **kwargs): return _fnp.take(self, *args, **kwargs)
    def swapaxes(self, axis1, axis2): return _fnp.swapaxes(self, axis1, axis2)
    def round(self, decimals=0): return _fnp.round(self, decimals)
    def conj(self): return self
    def conjugate(self): return self
    def copy(self, order="K"): return self  # (traced values are never written in place)
    @property
    def real(self): return self
    @property
    def imag(self): return _fnp.imag(self)
    # (plain results: indices and truth values carry no derivative; the
    # truth values come from a comparison, which a recorded tape guards)
    def argmax(self, *args, **kwargs): return _fnp.argmax(self, *args, **kwargs)
    def argmin(self, *args, **kwargs): return _fnp.argmin(self, *args, **kwargs)
    def argsort(self, *args, **kwargs): return _fnp.argsort(self, *args, **kwargs)
    def nonzero(self): return np.nonzero(_fnp.not_equal(self, 0.0))
    def any(self, *args, **kwargs): return _fnp.not_equal(self, 0.0).any(*args, **kwargs)
    def all(self, *args, **kwargs): return _fnp.not_equal(self, 0.0).all(*args, **kwargs)

    def astype(self, dtype):
        dtype = np.dtype(dtype)
        if dtype == self.value.dtype:
            return self
        return _fnp._astype(self, dtype)

    def item(self):
        raise TypeError(_conversion_message("a Python number (item)"))

    def tolist(self):
        raise TypeError(_conversion_message("a list"))


def same_bytes(object a, object b):
    """Whether two C-contiguous buffers hold the same bytes (a bitwise
    comparison of arrays: -0.0 and 0.0 differ, a NaN equals itself)."""
    cdef Py_buffer x, y
    PyObject_GetBuffer(a, &x, PyBUF_C_CONTIGUOUS)
    try:
        PyObject_GetBuffer(b, &y, PyBUF_C_CONTIGUOUS)
        try:
            return x.len == y.len and memcmp(x.buf, y.buf, x.len) == 0
        finally:
            PyBuffer_Release(&y)
    finally:
        PyBuffer_Release(&x)


cdef object _array_ufunc(object ufunc, str method, tuple inputs, dict kwargs):
    if method != "__call__":
        raise TypeError(
            "numpy.%s.%s is not supported on traced values; use the "
            "fastad.numpy function instead" % (ufunc.__name__, method))
    if kwargs.get("out") is not None:
        raise TypeError(
            "numpy.%s(..., out=...) cannot write into a traced array; drop the "
            "out argument" % ufunc.__name__)
    kwargs.pop("out", None)
    fun = getattr(_fnp, ufunc.__name__, None)
    if fun is None or fun is ufunc:  # (NumPy's own ufunc: calling it would come back here)
        raise TypeError(
            "numpy.%s has no differentiation rule in fastad; it cannot be "
            "applied to traced values" % ufunc.__name__)
    return fun(*inputs, **kwargs)


cdef object _array_function(object func, tuple args, dict kwargs):
    """NEP 18: numpy.f(traced, ...) runs fastad.numpy's f."""
    module = getattr(func, "__module__", "") or ""
    name = func.__name__
    namespace = _fnp
    for sub in ("linalg", "fft"):
        if module.startswith("numpy." + sub) or module == "numpy." + sub:
            namespace = getattr(_fnp, sub, None)
    fun = getattr(namespace, name, None) if namespace is not None else None
    if fun is None or fun is func:
        raise TypeError(
            "%s.%s has no differentiation rule in fastad, so it cannot be applied to "
            "traced values" % (module or "numpy", name))
    return fun(*args, **kwargs)
