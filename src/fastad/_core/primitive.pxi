# Primitives and the generic recording path (included by _tape.pyx).
#
# Every operation that is not a scalar opcode is a `Primitive` call: the
# NumPy function and its rules.  On traced input `_record` computes the
# value, pushes one FA_EXT node and appends an `Ext` record (the
# primitive, its arguments, parents and value) to the tape's side table;
# `_record_elementwise` is the same path cut short for one traced array and
# a constant.  What the record keeps is decided here: `_residuals` replaces
# large float arrays that no rule of a traced argument reads by zero-memory
# stand-ins, and `_push_guard` records value-dependent results that a
# replay must check.  The reverse sweep's array C steps (`_c_step`: unary
# elementwise functions, arithmetic with a constant, relu) and the Taylor
# rules of scalar opcodes applied to arrays (`series_unary`,
# `series_binary`) call csrc/ directly; everything else runs the rules.

#: name -> Primitive, for every primitive of the op table (filled by
#: fastad.ops.defprim; pickles name primitives by it)
REGISTRY = {}


@cython.freelist(1024)
@cython.no_gc
@cython.final
cdef class Ext:
    """Side-table record of one array or generic operation."""

    def __reduce__(self):
        return (_rebuild_ext, (self.primitive, self.args, self.kwargs, self.parents, self.inputs,
                               self.value, self.scalar_out, self.shape, self.dtype, self.guard,
                               self.where))

    def __repr__(self):
        name = self.primitive.name if self.primitive is not None else "input"
        return "Ext(%s, shape=%s, dtype=%s)" % (name, self.shape, self.dtype)

    cdef add_adjoint(self, object cotangent, bint fresh=False):
        """Accumulate a cotangent.  The adjoint may be held unexpanded (any
        shape broadcasting to the node's); `adjoint_owned` marks a
        full-shape array of ours that can be added to in place.  `fresh`:
        the cotangent is a new array nobody else holds (a rule's result),
        which can become the adjoint itself, without a copy."""
        cdef object c = unbroadcast(cotangent, self.shape, self.dtype)
        if c is not cotangent:
            fresh = True  # summed or cast: a new array
        if self.adjoint is None:
            self.adjoint = c
            self.adjoint_owned = (fresh and type(c) is _ndarray and (<object>c).shape == self.shape
                                  and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>c))
        elif self.adjoint_owned:
            np.add(self.adjoint, c, out=self.adjoint)
        else:
            # The first cotangent may be shared with another node: add into
            # a new array once, then accumulate in place.
            total = np.add(self.adjoint, c)
            if type(total) is not _ndarray or (<object>total).shape != self.shape:
                total = _materialize(total, self.shape, self.dtype)
            self.adjoint = total
            self.adjoint_owned = True

    cdef add_adjoint_at(self, object index, object g):
        """Add `g` into the adjoint at `index` (the reverse of x[index])."""
        if self.adjoint is None:
            self.adjoint = np.zeros(self.shape, self.dtype)
            self.adjoint_owned = True
        elif not self.adjoint_owned:
            self.adjoint = _materialize(self.adjoint, self.shape, self.dtype)
            self.adjoint_owned = True
        if _is_basic_index(index):
            self.adjoint[index] += g
        else:
            np.add.at(self.adjoint, index, g)


cdef object _EXACT_INT = 2 ** 53  # Python ints this small convert to float64 exactly


cdef object _c_step(Ext ext, int opcode, object g, object into, bint store=False):
    """g times the local derivative of the array operation `ext` in its one
    traced argument, in C, for a unary elementwise opcode, for add,
    subtract, multiply, divide or ** 2 with a float constant (float64), and
    for maximum or minimum with a float constant (relu; float64 and
    float32), all arrays of one shape: the reverse step (g a cotangent,
    added `into` the parent's adjoint when given) and, the rules being
    linear in g, the tangent step (g a tangent).  Written into `into` (or a
    new array), which is returned; None where anything differs (dtype,
    shape, layout, a stand-in primal): the rule then runs.  With `store`,
    `into` is written over instead of added to."""
    if len(ext.parents) != 1 or (<Primitive>ext.primitive).opcode != opcode:
        return None
    cdef bint extremum = opcode == FA_MAXIMUM or opcode == FA_MINIMUM
    cdef int typenum = cnp.NPY_DOUBLE
    if ext.dtype is not _float64:
        if not (extremum and ext.dtype is _float32):
            return None
        typenum = cnp.NPY_FLOAT
    cdef int position = ext.parents[0][0]
    cdef object constant = None
    cdef object scale = None  # a constant array operand of multiply or divide
    if opcode < FA_NEG:  # a binary opcode: with a constant operand only
        if (opcode > FA_POW and not extremum) or len(ext.args) != 2:
            return None
        constant = ext.args[1 - position]
        if PyLong_CheckExact(constant) and -_EXACT_INT <= constant <= _EXACT_INT:
            constant = float(constant)  # (exactly: NumPy's conversion)
        elif not PyFloat_CheckExact(constant):
            if (type(constant) is not _ndarray or extremum or opcode == FA_POW
                    or typenum != cnp.NPY_DOUBLE):
                return None
            if opcode == FA_MUL or (opcode == FA_DIV and position == 0):
                scale = constant
            constant = 0.0  # (add, subtract and c / x do not read it)
    x = ext.args[position]
    y = ext.value  # (of the node's shape, or a stand-in, which is refused)
    if not (type(y) is _ndarray and _plain(y, y, typenum) and _plain(g, y, typenum)
            and _plain(x, y, typenum)):
        return None
    if scale is not None and not _plain(scale, y, typenum):
        return None
    cdef int accumulate = 0
    if into is None:
        out = cnp.PyArray_EMPTY(cnp.PyArray_NDIM(<cnp.ndarray>y), cnp.PyArray_DIMS(<cnp.ndarray>y),
                                typenum, 0)
    elif _plain(into, y, typenum):
        out = into
        accumulate = not store
    else:
        return None
    cdef void *xp = cnp.PyArray_DATA(x)
    cdef void *yp = cnp.PyArray_DATA(y)
    cdef void *gp = cnp.PyArray_DATA(g)
    cdef void *outp = cnp.PyArray_DATA(out)
    cdef int64_t n = cnp.PyArray_SIZE(out)
    cdef int done
    if n > 4096 and (opcode == FA_SIN or opcode == FA_COS or opcode == FA_SINH
                     or opcode == FA_COSH):
        # (a libm call per element: NumPy's vector loops win on long arrays)
        return None
    if extremum and typenum == cnp.NPY_FLOAT:
        done = fa_extremum_vjp_f32(<const float *>xp, <const float *>yp,
                                   PyFloat_AS_DOUBLE(constant), <const float *>gp,
                                   <float *>outp, n, accumulate)
    elif extremum:
        done = fa_extremum_vjp_f64(<const double *>xp, <const double *>yp,
                                   PyFloat_AS_DOUBLE(constant), <const double *>gp,
                                   <double *>outp, n, accumulate)
    elif scale is not None:
        done = fa_array_scale_vjp(opcode == FA_DIV, <const double *>cnp.PyArray_DATA(scale),
                                  <const double *>gp, <double *>outp, n, accumulate)
    elif constant is None:
        done = fa_unary_vjp(opcode, <const double *>xp, <const double *>yp,
                            <const double *>gp, <double *>outp, n, accumulate)
    else:
        done = fa_constant_vjp(opcode, position == 1, PyFloat_AS_DOUBLE(constant),
                               <const double *>xp, <const double *>yp, <const double *>gp,
                               <double *>outp, n, accumulate)
    return out if done == 0 else None


cdef inline bint _fresh(object c, object g_parent, object g, Ext ext):
    """Whether a rule's result `c` is a new array of its own: not a view,
    not the cotangent it was given, not a primal of the operation."""
    return _new_result(<Primitive>ext.primitive, c, g_parent, g, ext.value, ext.args)


cdef bint _new_result(Primitive prim, object c, object g_parent, object g, object ans,
                      object args):
    """_fresh for the rule of `prim` called with (g_parent, ans, *args); g
    the cotangent g_parent stands for (the plan's steps call it too)."""
    if not prim.fresh_results:
        return False
    if type(c) is not _ndarray or cnp.PyArray_BASE(<cnp.ndarray>c) != NULL:
        return False
    if c is g_parent or c is g or c is ans:
        return False
    for a in args:
        if c is a:
            return False
    return True


cpdef object unbroadcast(object cotangent, tuple shape, object dtype):
    """Sum `cotangent` over the axes that broadcasting added or stretched,
    so that it broadcasts to `shape` (broadcasting forward is a sum
    backward), and cast it to `dtype` (its real part for a real `dtype`).
    Axes where the cotangent is already smaller (length 1, or missing in
    front) are left unexpanded: the caller materializes the full shape only
    when it must."""
    cdef object c = cotangent
    if type(c) is not _ndarray:
        c = np.asarray(c)
    cdef tuple cshape = c.shape
    cdef Py_ssize_t extra, k, n = len(shape)
    if cshape != shape:
        extra = len(cshape) - n
        if extra > 0:
            c = c.sum(axis=tuple(range(extra)))
            cshape = c.shape
        extra = n - len(cshape)  # missing leading axes broadcast freely
        axes = tuple([k for k in range(len(cshape))
                      if shape[k + extra] == 1 and cshape[k] != 1])
        if axes:
            c = c.sum(axis=axes, keepdims=True)
    if c.dtype is not dtype and c.dtype != dtype:
        if c.dtype.kind == "c" and dtype.kind != "c":
            c = c.real  # the cotangent of a real value is real (as in autograd and JAX)
        c = c.astype(dtype)
    return c


cdef object _materialize(object adjoint, tuple shape, object dtype):
    """A fresh array of `shape` and `dtype` holding `adjoint` broadcast."""
    out = np.empty(shape, dtype)
    out[...] = adjoint
    return out


# --------------------------------------------------------------------------
# Primitives: the generic recording path

cdef class Primitive:
    """A differentiable function: its NumPy implementation and, per positional
    argument, a VJP rule `rule(g, ans, *args, **kwargs)` returning that
    argument's cotangent (None: not differentiable in that argument), and a
    JVP rule `rule(t, ans, *args, **kwargs)`.  Rules are written with
    fastad.numpy so that, on traced inputs, they record and can be
    differentiated again.  Called on plain values, a primitive runs `fun`;
    on traced values it records one node.  `fastad.extend.primitive` and
    `fastad.custom_vjp` make primitives from a user's function.

    >>> square = fastad.Primitive("square", lambda x: x * x,
    ...                           vjps=[lambda g, ans, x: 2.0 * g * x],
    ...                           jvps=[lambda t, ans, x: 2.0 * t * x])
    >>> square(3.0), fastad.grad(square)(3.0), fastad.deriv(square)(3.0)
    (9.0, 6.0, 6.0)

    Functions of any number of arrays (concatenate, stack) give variadic
    rules instead (`vjp_variadic`, `jvp_variadic`), `rule(position, g, ans,
    *args, **kwargs)`, used for every argument from `len(vjps)` on.

    `elementwise` rules accept a cotangent of any shape that broadcasts to
    the output's (the numeric sweep keeps cotangents such as the one a sum
    sends back unbroadcast, and expands them only for other rules).

    `jvps_batched`: optional JVP rules taking the tangents of several
    directions at once (a leading axis), for the forward sweeps of Jacobians
    and Hessians; without them a non-elementwise rule runs once per
    direction.

    `saves[k]` lists what the VJP rule of argument k reads: argument indices,
    and -1 for the output.  The tape keeps only what the traced arguments'
    rules read; a large float array nobody reads is replaced by a
    zero-memory stand-in of the same shape and dtype, so intermediates die
    as soon as the user's code drops them (None: keep everything)."""

    cdef readonly str name
    cdef readonly object fun
    cdef public tuple vjps
    cdef public tuple jvps
    cdef public object vjp_variadic
    cdef public object jvp_variadic
    cdef readonly int opcode
    cdef readonly bint elementwise
    cdef readonly tuple saves
    cdef public tuple jvps_batched
    #: the primitive computing which branch this one takes at its arguments
    #: (abs: the sign of x; maximum: x against y; max: the maximal
    #: elements): recorded tapes keep it as a guard (see record)
    cdef public object kink
    #: its rules return new arrays nobody else holds where they do not return
    #: an argument or a view (the op table's rules; never assumed of a
    #: user's): such a cotangent becomes an adjoint without a copy
    cdef public bint fresh_results
    cdef dict __dict__  # functools.wraps metadata of user-defined primitives

    def __init__(self, name, fun, vjps=None, jvps=None, vjp_variadic=None,
                 jvp_variadic=None, opcode=-1, elementwise=False, saves=None):
        self.name = name
        self.elementwise = elementwise
        self.saves = tuple(frozenset(s) for s in saves) if saves is not None else None
        self.fun = fun
        self.vjps = tuple(vjps) if vjps is not None else None
        self.jvps = tuple(jvps) if jvps is not None else None
        self.vjp_variadic = vjp_variadic
        self.jvp_variadic = jvp_variadic
        self.opcode = opcode
        self.kink = None
        self.fresh_results = False
        if vjp_variadic is not None and self.vjps is None:
            self.vjps = ()

    def __repr__(self):
        return "<fastad primitive %s>" % self.name

    def __reduce__(self):
        if REGISTRY.get(self.name) is not self:
            raise TypeError(
                "the primitive %r is not in fastad's op table (a fastad.extend primitive or a "
                "custom_vjp): tapes using it cannot be pickled" % self.name)
        return (_primitive_by_name, (self.name,))

    def __call__(self, *args, **kwargs):
        for a in args:
            if type(a) is Scalar or type(a) is Array:
                return _record(self, args, kwargs)
        return self.fun(*args, **kwargs)

    @property
    def differentiable(self):
        return self.vjps is not None

    cdef inline bint _differentiable_in(self, Py_ssize_t position):
        if self.vjps is None:
            return False
        if position < len(self.vjps):
            return self.vjps[position] is not None
        return self.vjp_variadic is not None

    def vjp_rule(self, Py_ssize_t position):
        """The VJP rule of argument `position` as `rule(g, ans, *args, **kw)`."""
        if position < len(self.vjps):
            return self.vjps[position]
        variadic = self.vjp_variadic
        return lambda g, ans, *args, **kwargs: variadic(position, g, ans, *args, **kwargs)


cdef Primitive _identity_primitive = None


def register_identity(Primitive primitive):
    global _identity_primitive
    _identity_primitive = primitive


@cython.boundscheck(False)
@cython.wraparound(False)
def series_unary(int opcode, object x, double c=0.0):
    """Apply the Taylor rule of a scalar opcode elementwise: `x` has shape
    (d + 1,) + shape (coefficients first); returns the same shape."""
    x = np.asarray(x, np.float64)
    cdef int d = x.shape[0] - 1
    cdef object xs = np.ascontiguousarray(np.moveaxis(x, 0, x.ndim - 1))
    cdef const double[:, ::1] flat = xs.reshape(-1, d + 1)
    cdef object out = np.empty((flat.shape[0], d + 1))
    cdef double[:, ::1] result = out
    cdef double[::1] scratch = np.empty(3 * (d + 1))
    cdef Py_ssize_t e
    for e in range(flat.shape[0]):
        if fa_series_unary(opcode, &flat[e, 0], &result[e, 0], d, c, &scratch[0]) < 0:
            raise NotImplementedError("no Taylor rule for opcode %d" % opcode)
    return np.moveaxis(out.reshape(xs.shape), x.ndim - 1, 0)


@cython.boundscheck(False)
@cython.wraparound(False)
def series_binary(int opcode, object a, object b):
    """Apply the Taylor rule of a binary scalar opcode elementwise to two
    coefficient-first series of broadcastable shapes."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    cdef int d = a.shape[0] - 1
    shape = np.broadcast_shapes(a.shape[1:], b.shape[1:])
    cdef Py_ssize_t last = len(shape)
    # align the coefficient axes in front of the broadcast element axes
    a = a.reshape((d + 1,) + (1,) * (last - (a.ndim - 1)) + a.shape[1:])
    b = b.reshape((d + 1,) + (1,) * (last - (b.ndim - 1)) + b.shape[1:])
    cdef const double[:, ::1] fa = np.ascontiguousarray(
        np.moveaxis(np.broadcast_to(a, (d + 1,) + shape), 0, last)).reshape(-1, d + 1)
    cdef const double[:, ::1] fb = np.ascontiguousarray(
        np.moveaxis(np.broadcast_to(b, (d + 1,) + shape), 0, last)).reshape(-1, d + 1)
    cdef object out = np.empty((fa.shape[0], d + 1))
    cdef double[:, ::1] result = out
    cdef double[::1] scratch = np.empty(3 * (d + 1))
    cdef Py_ssize_t e
    for e in range(fa.shape[0]):
        if fa_series_binary(opcode, &fa[e, 0], &fb[e, 0], &result[e, 0], d, &scratch[0]) < 0:
            raise NotImplementedError("no Taylor rule for opcode %d" % opcode)
    return np.moveaxis(out.reshape(shape + (d + 1,)), last, 0)


def _variadic_rule(rule, position):
    return lambda t, ans, *args, **kwargs: rule(position, t, ans, *args, **kwargs)


# The getitem primitive: its reverse step for a scalar result adds the
# adjoint in place into the array's adjoint instead of building a zero array
# per element (a Python loop over x[i] stays linear).
cdef Primitive _getitem_primitive = None


def register_getitem(Primitive primitive):
    global _getitem_primitive
    _getitem_primitive = primitive


cdef bint _is_basic_index(object index):
    if isinstance(index, tuple):
        for item in index:
            if not (item is None or item is Ellipsis or isinstance(item, (int, slice))):
                return False
        return True
    return index is None or index is Ellipsis or isinstance(index, (int, slice))


cdef object _record(Primitive prim, tuple args, dict kwargs):
    if (len(args) == 1 and not kwargs and type(args[0]) is Array and (<Array>args[0])._op
            and (prim is _sum_primitive or prim is _mean_primitive)):
        if not (<Array>args[0]).tape.active:
            raise _stale_error()
        if prim is _sum_primitive:
            return _fused_sum(<Array>args[0])
        # numpy.mean: the sum, divided by the count in float64 (the same rounding)
        return _fused_sum(<Array>args[0]) / float(_size_of((<Array>args[0])._shape))
    cdef Tape tape = None
    cdef Tape other
    cdef list raw = list(args)
    cdef list parents = []
    cdef list inputs = []
    cdef Py_ssize_t k
    cdef int64_t node
    for k in range(len(args)):
        a = args[k]
        if type(a) is Scalar:
            other = (<Scalar>a).tape
            node = (<Scalar>a).node
            raw[k] = (<Scalar>a).value
        elif type(a) is Array:
            _forced(<Array>a)
            other = (<Array>a).tape
            node = (<Array>a)._node
            raw[k] = (<Array>a)._value
        else:
            continue
        if tape is None:
            tape = other
        elif other is not tape:
            raise _mixed_error()
        inputs.append((k, node))
        if prim._differentiable_in(k):
            parents.append((k, node))
    if not tape.active:
        raise _stale_error()
    if kwargs:
        value = prim.fun(*raw, **kwargs)
    elif len(raw) == 1:
        value = prim.fun(raw[0])
    elif len(raw) == 2:
        value = prim.fun(raw[0], raw[1])
    else:
        value = prim.fun(*raw)
    if _debug_nans:
        _check_nans(prim, raw, value)
    if not parents:
        if tape.guarding:
            _push_guard(tape, prim, raw, kwargs, inputs, value)
        return value
    cdef Ext ext = Ext.__new__(Ext)
    if type(value) is _ndarray:
        if (<object>value).dtype.kind not in "fc":
            if (<object>value).dtype.kind in "OV":
                raise _untraceable_error(prim, value)
            if tape.guarding:
                _push_guard(tape, prim, raw, kwargs, inputs, value)
            return value
        ext.scalar_out = False
    elif PyFloat_Check(value):
        ext.scalar_out = True
        value = float(value)
    elif isinstance(value, np.ndarray):
        if isinstance(value, np.ma.MaskedArray):
            raise TypeError(
                "%s of a traced value gave a numpy.ma.MaskedArray (a masked constant took "
                "part): fastad traces plain arrays and would drop the mask. Pass "
                "m.filled(value) and apply the mask with fastad.numpy.where" % prim.name)
        if value.dtype.kind not in "fc":
            if value.dtype.kind in "OV":
                raise _untraceable_error(prim, value)
            if tape.guarding:
                _push_guard(tape, prim, raw, kwargs, inputs, value)
            return value
        ext.scalar_out = False
    elif isinstance(value, (np.floating, np.complexfloating, complex)):
        # float32 (or other non-float64) and complex scalars stay 0-d arrays,
        # keeping their dtype (the C tape's scalars are float64)
        value = np.asarray(value)
        ext.scalar_out = False
    else:
        if isinstance(value, np.void):
            raise _untraceable_error(prim, value)
        if tape.guarding:
            _push_guard(tape, prim, raw, kwargs, inputs, value)
        return value
    if tape.kink_guards and prim.kink is not None:
        # the branch this piecewise function takes, checked at replay
        kink = <Primitive>prim.kink
        _push_guard(tape, kink, raw, kwargs, inputs,
                    kink.fun(*raw, **kwargs) if kwargs else kink.fun(*raw))
    ext.primitive = prim
    ext.kwargs = kwargs if kwargs else None
    ext.parents = tuple(parents)
    ext.inputs = tuple(inputs)
    if prim.saves is not None and not tape.keep_all:
        ext.args, ext.value = _residuals(prim, raw, value, parents)
    else:
        ext.args = tuple(raw)
        ext.value = value
    if ext.scalar_out:
        ext.shape = ()
        ext.dtype = np.dtype(np.float64)
    else:
        ext.shape = value.shape
        ext.dtype = value.dtype
    return tape._push_ext(ext, value)


cdef object _untraceable_error(Primitive prim, object value):
    """A differentiable operation on traced input gave a result the tape
    cannot carry: returning it plain would drop the derivative silently."""
    dtype = np.result_type(value)
    return TypeError("%s of a traced value gave a result of dtype %s; the derivative flows "
                     "through float and complex arrays only. Pass float constants "
                     "(numpy.asarray(c, dtype=float)), not object or structured arrays"
                     % (prim.name, dtype))


cdef inline tuple _operands(Array x, object right, object left):
    if right is None and left is None:
        return (x,)
    return (x, right) if left is None else (left, x)


cdef object _record_elementwise(Primitive prim, Array x, object right, object left):
    """_record for the commonest operations, with less bookkeeping: a unary
    elementwise function of the traced array x (right and left None), or a
    binary one of x with `right` (a traced array or a float) or of the float
    `left` with x.  Anything unusual goes through _record."""
    cdef Tape tape = x.tape
    cdef Array other = None
    if type(right) is Array:
        other = <Array>right
        if other.tape is not tape:
            raise _mixed_error()
    if not tape.active:
        raise _stale_error()
    if x._op or (other is not None and other._op) or _fusable(x):
        fused = _try_fuse(prim, x, right, left)
        if fused is not None:
            return fused
        _forced(x)
        if other is not None:
            _forced(other)
    if (tape.kink_guards and prim.kink is not None) or _debug_nans or prim.vjps is None:
        return _record(prim, _operands(x, right, left), {})
    cdef object xv = x._value
    cdef object value
    if right is None and left is None:
        value = prim.fun(xv)
    elif left is None:
        value = prim.fun(xv, other._value if other is not None else right)
    else:
        value = prim.fun(left, xv)
    if type(value) is not _ndarray or not _float_array(value):
        return _record(prim, _operands(x, right, left), {})
    cdef Ext ext = Ext.__new__(Ext)
    ext.primitive = prim
    ext.kwargs = None
    ext.scalar_out = False
    if left is not None:
        ext.parents = ((1, x._node),)
        ext.args = (left, xv)
    elif other is not None:
        ext.parents = ((0, x._node), (1, other._node))
        ext.args = (xv, other._value)
    elif right is not None:
        ext.parents = ((0, x._node),)
        ext.args = (xv, right)
    else:
        ext.parents = ((0, x._node),)
        ext.args = (xv,)
    ext.inputs = ext.parents
    ext.value = value
    if (prim.saves is not None and not tape.keep_all
            and (_large(value) or _large(xv) or (other is not None and _large(other._value)))):
        # (large arrays only: small ones cost nothing to keep)
        ext.args, ext.value = _residuals(prim, list(ext.args), value, list(ext.parents))
    ext.shape = (<object>value).shape
    ext.dtype = (<object>value).dtype
    return tape._push_ext(ext, value)


#: float arrays at least this large that no rule reads are not kept on the tape
cdef Py_ssize_t _RESIDUAL_MIN_BYTES = 1 << 16


def set_residual_threshold(Py_ssize_t nbytes):
    """Keep unread float arrays on the tape only below `nbytes` (tests set 0
    to exercise every rule's `saves`); returns the previous threshold."""
    global _RESIDUAL_MIN_BYTES
    previous = _RESIDUAL_MIN_BYTES
    _RESIDUAL_MIN_BYTES = nbytes
    return previous


cdef object _stand_in(object array):
    """A zero-memory array with the shape and dtype of `array` (every element
    aliases one zero), for rules that read only shapes."""
    return np.ndarray(array.shape, dtype=array.dtype,
                      buffer=np.zeros(1, dtype=array.dtype),
                      strides=(0,) * array.ndim)


cdef _check_nans(Primitive prim, list raw, object value):
    try:
        produced = np.isnan(value).any()
    except TypeError:
        return
    if produced and not any(np.isnan(a).any() for a in raw
                            if isinstance(a, (float, _ndarray)) and np.result_type(a).kind == "f"):
        raise _nan_error(prim.name, tuple(raw))


cdef _push_guard(Tape tape, Primitive prim, list raw, dict kwargs, list inputs, object value):
    """Record a value-dependent result with no derivative (a comparison, sign,
    argmax, ...): replay recomputes it and refuses to go on if it changed,
    since the code that used it may have taken another path."""
    cdef Ext ext = Ext.__new__(Ext)
    ext.primitive = prim
    ext.args = tuple(raw)
    ext.kwargs = kwargs if kwargs else None
    ext.parents = ()
    ext.inputs = tuple(inputs)
    ext.value = value
    ext.scalar_out = False
    ext.guard = True
    ext.where = _user_source()
    ext.shape = np.shape(value)
    ext.dtype = np.result_type(value)
    cdef int64_t index = len(tape.exts)
    if fa_push(&tape.c, FA_EXT, <int>index, 0, 0.0) < 0:
        raise _tape_full_error()
    tape.exts.append(ext)


def _user_source():
    """'file:line' of the innermost caller outside fastad (for guard messages).
    Compiled functions push no Python frame, so frame 0 is the innermost
    Python code running: the line of the user's that called the operation
    directly (x > 0 calls straight into the core), or a fastad module
    (fastad.numpy's functions), which the walk skips.  (Frame 1 would skip
    the user's line in the first case and name its caller, such as the
    fastad.record line.)"""
    import sys
    frame = sys._getframe(0)
    while frame is not None and frame.f_code.co_filename.startswith(_FASTAD_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return "%s:%d" % (frame.f_code.co_filename, frame.f_lineno)


#: fastad's own files (a user's file in a folder named fastad_something is not one)
_FASTAD_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "")


cdef inline bint _large(object a):
    return type(a) is _ndarray and cnp.PyArray_NBYTES(<cnp.ndarray>a) >= _RESIDUAL_MIN_BYTES


cdef inline bint _float_array(object a):
    """An ndarray (checked by the caller) of a floating dtype."""
    return cnp.PyArray_ISFLOAT(<cnp.ndarray>a)


cdef tuple _residuals(Primitive prim, list raw, object value, list parents):
    """(args, value) to keep for the reverse sweep: what the rules of the
    traced arguments read, with large unread float arrays stood in for."""
    cdef Py_ssize_t i, n_saves = len(prim.saves)
    cdef bint any_large = _large(value)
    for i in range(len(raw)):
        if any_large:
            break
        any_large = _large(raw[i])
    if not any_large:
        return tuple(raw), value  # small arrays: keeping them costs nothing
    cdef frozenset needed = frozenset()
    for position, _ in parents:
        if position >= n_saves:
            return tuple(raw), value
        needed = needed | <frozenset>prim.saves[position]
    cdef list args = raw
    for i in range(len(raw)):
        a = raw[i]
        if i not in needed and _large(a) and (<object>a).dtype.kind == "f":
            if args is raw:
                args = list(raw)
            args[i] = _stand_in(a)
    if -1 not in needed and _large(value):
        value = _stand_in(value)
    return tuple(args), value


cdef int _same_branch(list args, object recorded) except -2:
    """Whether real x stands against y (args: [x] against 0, or [x, y]) as
    `recorded` says (the int8 array of ops/elementwise._branch: 1 above, -1
    below, 0 equal or NaN), in one pass without forming the new pattern: 1
    or 0; -1 where the operands are not float64 arrays of the recorded
    shape (or floats): NumPy then works it out."""
    if type(recorded) is not _ndarray or cnp.PyArray_TYPE(<cnp.ndarray>recorded) != cnp.NPY_INT8:
        return -1
    if not cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>recorded) or not 1 <= len(args) <= 2:
        return -1
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>recorded)
    cdef const double *a = NULL
    cdef const double *b = NULL
    cdef double a0 = 0.0, b0 = 0.0
    cdef object x = args[0]
    cdef object y = args[1] if len(args) == 2 else 0.0
    if PyFloat_CheckExact(x):
        a0 = PyFloat_AS_DOUBLE(x)
    elif _plain(x, recorded, cnp.NPY_DOUBLE):
        a = <const double *>cnp.PyArray_DATA(<cnp.ndarray>x)
    else:
        return -1
    if PyFloat_CheckExact(y):
        b0 = PyFloat_AS_DOUBLE(y)
    elif _plain(y, recorded, cnp.NPY_DOUBLE):
        b = <const double *>cnp.PyArray_DATA(<cnp.ndarray>y)
    else:
        return -1
    if a == NULL and b == NULL:
        return -1
    cdef const signed char *r = <const signed char *>cnp.PyArray_DATA(<cnp.ndarray>recorded)
    cdef Py_ssize_t i
    cdef double u, v
    cdef int differs = 0
    with nogil:
        for i in range(n):
            u = a[i] if a != NULL else a0
            v = b[i] if b != NULL else b0
            differs |= ((u > v) - (u < v)) != r[i]
    return 0 if differs else 1


cdef object _guard_flip(Primitive prim, Ext ext):
    """The RetapeRequired of a guarded node whose result changed at a replay."""
    if prim.name.startswith("branch of "):
        return RetapeRequired(
            "'%s' recorded at %s takes another branch at these inputs (a kink of a "
            "piecewise function was crossed): the recorded tape does not apply. Record "
            "again at these inputs, use fastad.record(..., retape=True), or "
            "fastad.record(..., guard_kinks=False) to recompute piecewise derivatives at "
            "each replay instead (exact)." % (prim.name[10:], ext.where))
    return RetapeRequired(
        "'%s' at %s gives a different result at these inputs than when the tape was "
        "recorded, and the function used that result as a constant (a branch condition, "
        "say): the recorded tape does not apply. Record again at these inputs, or use "
        "fastad.record(..., retape=True)." % (prim.name, ext.where))


cdef bint _same_value(object a, object b):
    if type(a) is _ndarray or type(b) is _ndarray:
        return np.array_equal(a, b)
    return a == b


cdef double *_tangent_rows(Tape tape, int64_t k, int64_t start) except NULL:
    """Tangent rows (k per node) for a sweep from node `start`, zero
    wherever the sweep reads before writing: freshly allocated, or past a
    megabyte the tape's own buffer, kept for the next sweep (a recorded
    tape's Jacobian or Hessian swept again: the pages of a buffer that
    large, mapped afresh at every call, cost more than the sweep at
    n = 1e5), and cleared only where fa_tangent does not write (45 MB a
    call for a Hessian at n = 1e5).  Sweeps of one tape do not nest."""
    cdef int64_t count = (tape.c.size if tape.c.size > 0 else 1) * k
    cdef double *rows
    if count * <int64_t>sizeof(double) < (1 << 20):
        rows = <double *>calloc(count, sizeof(double))
    else:
        if tape._tangents_capacity < count:
            free(tape._tangents)
            tape._tangents_capacity = 0
            tape._tangents = <double *>malloc(count * sizeof(double))
            if tape._tangents != NULL:
                tape._tangents_capacity = count
                fa_advise_huge(tape._tangents, count * sizeof(double))
        rows = tape._tangents
        if rows != NULL:
            with nogil:
                fa_tangent_clear(&tape.c, rows, k, start)
    if rows == NULL:
        raise MemoryError("no memory for the tangents of %d tape nodes" % tape.c.size)
    return rows


cdef unsigned char *_tangent_needed(Tape tape, int64_t start, list outputs) except NULL:
    """Flags over nodes [start, len): whether a tangent sweep must work
    out the node's tangent for `outputs` (an output, or an operand of a
    needed node through which a derivative flows).  The sweep skips the
    array operations no output reads (a loss value's chain, in the
    tangent sweep of an HVP); runs of scalar nodes go in C all the same.
    The tape keeps them for the next sweep of the same nodes and outputs
    (a recorded tape's jvp, Jacobian or Hessian called again: a pass over
    every node, 10-15% of a sweep carrying three directions)."""
    cdef int64_t size = tape.c.size
    cdef tuple output_nodes = tuple([(<Scalar>y).node if type(y) is Scalar else (<Array>y)._node
                                     for y in outputs])
    if (tape._needed != NULL and tape._needed_start == start and tape._needed_size == size
            and tape._needed_outputs == output_nodes):
        return tape._needed
    free(tape._needed)
    tape._needed = NULL
    cdef unsigned char *needed = <unsigned char *>calloc(
        size - start if size > start else 1, sizeof(unsigned char))
    if needed == NULL:
        raise MemoryError("no memory for the tangents of %d tape nodes" % size)
    cdef int64_t i, node
    cdef int op
    cdef Ext ext
    for node in output_nodes:
        if start <= node < size:
            needed[node - start] = 1
    for i in range(size - 1, start - 1, -1):
        if not needed[i - start]:
            continue
        op = tape.c.opcode[i]
        if op == FA_EXT:
            ext = <Ext>tape.exts[tape.c.operand0[i]]
            for _, parent in ext.parents:
                node = parent
                if node >= start:
                    needed[node - start] = 1
        elif op == FA_ELEM:
            node = tape.c.sources[tape.c.operand0[i]].node
            if node >= start:
                needed[node - start] = 1
        elif FA_IS_BINARY(op) or FA_IS_CONST_BINARY(op) or FA_IS_UNARY(op):
            if tape.c.operand0[i] >= start:
                needed[tape.c.operand0[i] - start] = 1
            if FA_IS_BINARY(op) and tape.c.operand1[i] >= start:
                needed[tape.c.operand1[i] - start] = 1
    tape._needed = needed
    tape._needed_start = start
    tape._needed_size = size
    tape._needed_outputs = output_nodes
    return needed


cdef object _tangent_joined(Tape tape, Ext ext, double *tangent, dict array_tangents,
                            int64_t k, bint batched):
    """The tangent of stack or concatenate in one operation: the arguments'
    tangents joined, zeros where none reaches (None where none reaches at
    all), rather than one output-sized term per argument added up, which is
    quadratic in the arguments (a Python loop stacking n element reads: 5 s
    for the sparse Hessian of Rosenbrock written as a loop at n = 1,000).
    NotImplemented for concatenate's flattening axis=None."""
    cdef dict by_position = {}
    cdef Ext parent_ext
    cdef tuple args = ext.args
    axis = args[0]
    if axis is None:
        return NotImplemented
    if (<Primitive>ext.primitive).name == "stack" and len(ext.parents) == len(args) - 1:
        found = _stacked_scalars(tape, ext, tangent, k, batched)
        if found is not None:
            return found
    for position, parent in ext.parents:
        parent_ext = tape._ext_of(parent)
        if parent_ext is None or parent_ext.scalar_out:
            t = _row(tangent, parent, k) if batched else tangent[parent]
        else:
            t = array_tangents.get(parent)
        if t is not None:
            by_position[position] = t
    if not by_position:
        return None
    lead = (k,) if batched else ()
    parts = []
    for position in range(1, len(args)):
        t = by_position.get(position)
        parts.append(np.zeros(lead + np.shape(args[position]), ext.dtype) if t is None else t)
    ndim = np.ndim(args[1])
    if (<Primitive>ext.primitive).name == "stack":
        axis = axis % (ndim + 1)
        joined = np.stack(parts, axis=axis + 1 if batched else axis)
    else:
        axis = axis % ndim
        joined = np.concatenate(parts, axis=axis + 1 if batched else axis)
    return joined.astype(ext.dtype, copy=False)


cdef object _scalar_argument_nodes(Tape tape, object pairs, Py_ssize_t n, int64_t *last):
    """The nodes of a stack's arguments, from its (position, node) pairs
    (position 0 is the axis), as an int64 array, and the highest in *last;
    None where an argument is not a scalar node."""
    cdef int64_t parent
    cdef Ext parent_ext
    nodes = np.empty(n, np.int64)
    cdef int64_t[::1] node_view = nodes
    for position, parent in pairs:
        parent_ext = tape._ext_of(parent)
        if parent_ext is not None and not parent_ext.scalar_out:
            return None
        node_view[<Py_ssize_t>position - 1] = parent
        if parent > last[0]:
            last[0] = parent
    return nodes


cdef tuple _stack_nodes(Tape tape, Ext ext):
    """_scalar_argument_nodes of a stack's parents, and the highest: found
    once, the same at every sweep and replay."""
    cdef int64_t last = 0
    if ext.stacked is None:
        nodes = _scalar_argument_nodes(tape, ext.parents, len(ext.parents), &last)
        if nodes is not None:
            nodes.flags.writeable = False
        ext.stacked = (nodes, last)
    return ext.stacked


@cython.boundscheck(False)
@cython.wraparound(False)
cdef object _stacked_scalars(Tape tape, Ext ext, double *tangent, int64_t k, bint batched):
    """The tangent of a stack of scalar nodes only (the element reads of a
    Python loop, the adjoints a recorded sweep gathers) as one gather from
    the sweep's tangent rows, (k, n) with `batched`; None where an argument
    is not a scalar node."""
    cdef Py_ssize_t n = len(ext.parents)
    cdef int64_t last
    cdef Py_ssize_t a, j
    nodes, last = _stack_nodes(tape, ext)
    if nodes is None or n == 0 or np.ndim(ext.value) != 1:
        return None
    cdef const int64_t[::1] index
    cdef double[::1] flat
    if ext.dtype == _float64:  # (in C: NumPy's gather and transpose cost 3x)
        index = nodes
        out = np.empty(k * n, np.float64)
        flat = out
        with nogil:
            for a in range(n):
                for j in range(k):
                    flat[j * n + a] = tangent[index[a] * k + j]
        return out.reshape(k, n) if batched else out
    cdef double[::1] rows = <double[:(last + 1) * k]> tangent
    gathered = np.asarray(rows).reshape(-1, k)[nodes]  # (arguments, directions)
    if not batched:
        return gathered.reshape(n).astype(ext.dtype)
    return np.ascontiguousarray(gathered.T).astype(ext.dtype, copy=False)


cdef object _stacked_primals(Tape tape, Ext ext):
    """The replayed value of a stack of scalar nodes only (a loop's element
    reads and scalar results, stacked): one gather from the primal column
    instead of a Python float per argument and np.stack (5 ms of a 6 ms
    sparse Jacobian at 10,000 arguments).  The stack's rules read only the
    arguments' shapes, so its recorded arguments are left as they are.
    None where it does not apply."""
    cdef Py_ssize_t n = len(ext.args) - 1
    cdef int64_t last
    if (n <= 0 or len(ext.inputs) != n or len(ext.parents) != n or ext.guard
            or ext.dtype != _float64):
        return None
    nodes, last = _stack_nodes(tape, ext)  # (its parents are its inputs)
    if nodes is None or ext.args[0] not in (0, -1) or np.ndim(ext.value) != 1:
        return None
    cdef double[::1] primals = <double[:last + 1]> tape.c.primal
    return np.asarray(primals)[nodes]
