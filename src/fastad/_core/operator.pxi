# The compiled call path of grad and jacfwd (included by _tape.pyx).
#
# A gradient descent written on lists of scalars (W15: GradBench's saddle
# and particle) calls its gradient operator tens of thousands of times on
# functions of a few operations.  Through the general path of fastad/core.py
# (pytree flattening, boxing, the _Recording, the sweep's set-up in Python,
# unflattening) such a call cost 7-22 us, 50-150 times the function on
# floats.  `ScalarCall` records `fun` on an argument that is a float, a
# traced Scalar, or a flat list or tuple of them, and sweeps it in C: the
# same nodes, the same sweeps and the same results, type for type, as the
# general path.
# What it does not take (other arguments, an output that is not a traced
# Scalar of the tape, nodes the C sweeps leave to Python) the general path
# finishes from the recording made here (core._Recording.adopt).

cdef extern from "Python.h":
    Py_ssize_t Py_REFCNT(object o)

cdef extern from *:
    """
    /* whether anything refers to `o` weakly */
    static int fa_weakly_referred(PyObject *o)
    {
        Py_ssize_t offset = Py_TYPE(o)->tp_weaklistoffset;
        return offset > 0 && *(PyObject **)((char *)o + offset) != NULL;
    }
    """
    bint fa_weakly_referred(object o)

cdef type _np_float64 = np.float64

# the argument's structure: a list or tuple of scalars, or one scalar
cdef enum:
    _LIST, _TUPLE, _ONE

# A finished top-level tape of scalar nodes kept for the next call: for a
# function of a few operations, making and freeing a Tape (the object, its
# lists and columns) costs as much as recording and sweeping it.
cdef Tape _spare_tape = None


def scalar_operator(bint forward, object fun, tuple args, Py_ssize_t index, dict kwargs,
                    list stack, object finish):
    """grad (`forward` false) or jacfwd of fun with respect to args[index]
    by the compiled call path: the derivatives; a ScalarCall where the
    general path must finish (ScalarCall.gradient and jacfwd return None);
    None, before anything runs, where args[index] is not a scalar or a flat
    list or tuple of scalars (ScalarCall.record)."""
    cdef ScalarCall call = _record_scalar_call(fun, args, index, kwargs, stack, finish, forward)
    if call is None:
        return None
    result = call._jacfwd() if forward else call._gradient()
    if result is None:
        return call
    if not call.nested:
        _keep_spare(call)
    return result


def spare_tape():
    """The top-level tape kept for the next call, or None (for tests)."""
    return _spare_tape


cdef ScalarCall _record_scalar_call(object fun, tuple args, Py_ssize_t index, dict kwargs,
                                    list stack, object finish, bint keep_all):
    """ScalarCall.record."""
    if not 0 <= index < len(args):
        return None
    cdef object x = args[index]
    cdef type kind = type(x)
    cdef list flat
    cdef int form
    if kind is list or kind is tuple:
        if len(x) == 0:
            return None
        flat = list(x)
        form = _LIST if kind is list else _TUPLE
    elif kind is float or kind is _np_float64 or kind is Scalar:
        flat = [x]
        form = _ONE
    else:
        return None
    cdef Tape tape = None
    cdef object item
    for item in flat:
        if type(item) is Scalar:
            if tape is None:
                tape = (<Scalar>item).tape
            elif (<Scalar>item).tape is not tape:
                return None
        elif type(item) is not float and type(item) is not _np_float64:
            return None
    if stack:
        if tape is not None and tape is not stack[-1]:
            return None
        tape = <Tape>stack[-1]
    cdef bint nested = tape is not None
    if nested and not tape.active:
        return None
    if not nested:
        tape = _fresh_tape()
    cdef ScalarCall call = ScalarCall.__new__(ScalarCall)
    call.tape = tape
    call.nested = nested
    call.leaves = x
    call.flat = flat
    call.form = form
    call.start = tape.c.size
    call.boxes = [_input_box(tape, item) for item in flat]
    cdef object boxed = (call.boxes if form == _LIST else tuple(call.boxes) if form == _TUPLE
                         else call.boxes[0])
    cdef list call_args = None
    if len(args) != 1 or kwargs:
        call_args = list(args)
        call_args[index] = boxed
    cdef bint outer_keep_all = tape.keep_all
    if nested or keep_all:
        # (recorded sweeps and forward sweeps read every primal of the range)
        tape.keep_all = True
    stack.append(tape)
    try:
        out = fun(boxed) if call_args is None else fun(*call_args, **(kwargs or {}))
        if type(out) is not Scalar and type(out) is not float:
            out = finish(out)
        call.output = out
        call.end = tape.c.size
    finally:
        stack.pop()
        tape.keep_all = outer_keep_all
        if not nested:
            tape.active = False  # traced values escaping fun can no longer record
    return call


cdef Tape _fresh_tape():
    """A new top-level tape: the spare one, if kept."""
    global _spare_tape
    cdef Tape tape = _spare_tape
    _spare_tape = None
    if tape is None or tape.c.capacity > fa_max_nodes:  # (a limit set since: set_max_nodes)
        return Tape()
    tape.active = True
    return tape


cdef void _keep_spare(ScalarCall call):
    """Keep call's finished top-level tape as the spare, emptied, when
    nothing but the call refers to it, weakly either (no traced value of
    it escaped fun: one that did must keep raising TracerError) and it
    holds scalar nodes only, a few thousand at most."""
    global _spare_tape
    cdef Tape tape = call.tape
    call.tape = None
    call.boxes = None
    call.output = None
    if (Py_REFCNT(tape) != 1 or fa_weakly_referred(tape) or tape.exts
            or tape.c.n_sources or tape.guarding or tape.plan is not None
            or tape.c.capacity > 4096 or tape.c.constants_capacity > 4096):
        return
    tape.c.size = 0
    tape.c.n_constants = 0
    tape._needed_size = -1  # (its nodes are recorded anew)
    _spare_tape = tape


@cython.final
cdef class ScalarCall:
    """One run of `fun` with one argument, a float or traced Scalar or a
    flat list or tuple of them, traced: what core._Recording records."""
    cdef readonly Tape tape
    cdef readonly bint nested  # recorded onto an outer operator's tape
    cdef readonly int64_t start, end  # fun's range of the tape
    cdef readonly object leaves  # the argument as given
    cdef list flat  # its leaves
    cdef int form  # _LIST, _TUPLE or _ONE (a scalar)
    cdef readonly list boxes  # its traced inputs, one node each
    cdef readonly object output

    @staticmethod
    def record(object fun, tuple args, Py_ssize_t index, dict kwargs, list stack,
               object finish, bint keep_all):
        """Run fun(*args, **kwargs) with args[index] traced, as
        core._Recording does, onto stack's top tape (or the tape of the
        argument's traced Scalars) or else a fresh one; an output that is
        not a scalar is recorded as finish(output) gives it (its pending
        arrays recorded: core._settle, forward._flat_output).  None, before
        anything runs, where args[index] is not a float or traced Scalar
        or a flat list or tuple of them, of that one tape: the general path
        takes the call (and raises its errors)."""
        return _record_scalar_call(fun, args, index, kwargs, stack, finish, keep_all)

    def gradient(self):
        """fun's gradient, in the argument's structure and leaf types, as
        the general path gives it; None where that path must finish: the
        output is not a traced Scalar of the tape, or a nested range holds
        nodes the C sweeps leave to Python."""
        return self._gradient()

    def jacfwd(self):
        """fun's forward-mode Jacobian (one derivative per input: its
        output is a scalar), as the general path gives it: nested, one
        recorded tangent sweep per input seeded there alone, the
        derivatives as they come (0.0 where none reaches); at top level,
        one C sweep carrying every direction, numbers of the leaves' types
        (_leaf_typed, as grad's).  None where the general path must finish
        (as `gradient`)."""
        return self._jacfwd()

    cdef object _gradient(self):
        if not self._scalar_output() or self.nested and not self._sweepable():
            return None
        cdef list grads = []
        cdef Py_ssize_t i, n = len(self.boxes)
        cdef SweepHandles handles
        cdef double *adjoint
        if self.nested:
            # sweeps.reverse, seeded with 1.0, its whole range in C
            handles = SweepHandles(self.tape, self.start, self.end)
            nodes = [(<Scalar>box).node for box in self.boxes]
            self._seed(handles)
            adjoints = handles._dry_gets(nodes) if handles._reverse_dry(self.end) else None
            if adjoints is None:
                handles._clear()
                self._seed(handles)
                handles._reverse(self.end)
                adjoints = _plain_constants(self.tape, self.start,
                                            [handles._get(node) for node in nodes])
            for i in range(n):
                grads.append(_leaf_typed(adjoints[i], self.flat[i]))
        elif self.tape.exts:
            adjoints = self.tape.backward([(self.output, 1.0)], self.boxes)
            for i in range(n):
                grads.append(_leaf_typed(adjoints[i], self.flat[i]))
        else:
            # Tape.backward of scalar nodes only: one fa_reverse of the tape
            adjoint = <double *>calloc(self.tape.c.size, sizeof(double))
            if adjoint == NULL:
                raise MemoryError("no memory for the adjoints of %d tape nodes"
                                  % self.tape.c.size)
            try:
                adjoint[(<Scalar>self.output).node] = 1.0
                fa_reverse(&self.tape.c, adjoint, 0, self.tape.c.size)
                for i in range(n):
                    grads.append(_leaf_typed(adjoint[(<Scalar>self.boxes[i]).node],
                                             self.flat[i]))
            finally:
                free(adjoint)
        return self._structured(grads)

    cdef object _jacfwd(self):
        if not self._scalar_output():
            return None
        cdef Py_ssize_t n = len(self.boxes), j
        cdef int64_t out_node = (<Scalar>self.output).node
        cdef list parts = []
        cdef SweepHandles handles
        cdef double *tangent
        cdef int64_t size = self.tape.c.size
        if self.nested:
            if not self._sweepable():
                return None
            handles = SweepHandles(self.tape, self.start, self.end)
            for j in range(n):
                # (one direction at a time, as the general path sweeps them)
                handles._clear()
                handles._set_plain((<Scalar>self.boxes[j]).node, 1.0)
                if handles._tangent_dry(self.start):
                    t = handles._dry_get(out_node)
                    if t is not _NOT_PLAIN:
                        parts.append(t)
                        continue
                    handles._clear()
                    handles._set_plain((<Scalar>self.boxes[j]).node, 1.0)
                handles._tangent(self.start)
                parts.append(handles._get(out_node))
            parts = [0.0 if t is None else t
                     for t in _plain_constants(self.tape, self.start, parts)]
        else:
            if self.tape.exts:
                return None
            # Tape._forward's sweep, batched: direction j is 1 at input j
            tangent = <double *>calloc(size * n, sizeof(double))
            if tangent == NULL:
                raise MemoryError("no memory for the tangents of %d tape nodes" % size)
            try:
                for j in range(n):
                    tangent[(<Scalar>self.boxes[j]).node * n + j] = 1.0
                fa_tangent(&self.tape.c, tangent, n, 0, size)
                for j in range(n):
                    parts.append(_leaf_typed(tangent[out_node * n + j], self.flat[j]))
            finally:
                free(tangent)
        return self._structured(parts)

    cdef void _seed(self, SweepHandles handles):
        """The nested reverse sweep's seed: 1.0 at the output."""
        if (<Scalar>self.output).node >= self.start:
            handles._set_plain((<Scalar>self.output).node, 1.0)

    cdef object _structured(self, list parts):
        """One part per leaf in the argument's structure."""
        return parts if self.form == _LIST else tuple(parts) if self.form == _TUPLE else parts[0]

    cdef bint _scalar_output(self):
        return type(self.output) is Scalar and (<Scalar>self.output).tape is self.tape

    cdef bint _sweepable(self):
        """Whether the C recording sweeps take fun's whole range (no array
        node, element read or traced exponent, which sweeps.py handles)."""
        cdef int64_t i
        cdef uint8_t op
        for i in range(self.start, self.end):
            op = self.tape.c.opcode[i]
            if op == FA_EXT or op == FA_ELEM or op == FA_POW:
                return False
        return True


def plain_constants(Tape tape, int64_t start, list values):
    """`values` (a nested operator's derivatives, its function's range of
    `tape` starting at `start`) with each traced Scalar that depends on no
    node before `start` replaced by its float value: it is a constant of
    the enclosing computation (the derivative at inputs given as floats
    of a function whose derivative there does not involve the enclosing
    computation's values), and what follows it need not be recorded, as
    JAX leaves values that do not depend on its tracers concrete.  Array
    nodes and element reads count as depending."""
    return _plain_constants(tape, start, values)


cdef list _plain_constants(Tape tape, int64_t start, list values):
    cdef object v
    for v in values:
        if type(v) is Scalar and (<Scalar>v).node >= start:
            break
    else:
        return values
    cdef int64_t size = tape.c.size
    cdef uint8_t *outer = <uint8_t *>calloc(max(size - start, 1), 1)
    if outer == NULL:
        raise MemoryError("no memory for %d flags" % (size - start))
    try:
        fa_depends_before(&tape.c, outer, start, size)  # (the dry sweeps' flags too)
        return [(<Scalar>v).value if type(v) is Scalar and (<Scalar>v).node >= start
                and not outer[(<Scalar>v).node - start] else v for v in values]
    finally:
        free(outer)


cdef Scalar _input_box(Tape tape, object leaf):
    """A traced input for one leaf, as core._Recording boxes it: a traced
    Scalar gets an identity node, a float a leaf node."""
    if type(leaf) is Scalar:
        return _with_constant(FA_MULC, <Scalar>leaf, 1.0)  # Tape.identity
    cdef double value = PyFloat_AS_DOUBLE(leaf)
    cdef int64_t node = fa_push(&tape.c, FA_LEAF, 0, 0, value)
    if node < 0:
        raise _tape_full_error()
    return _new_scalar(tape, node, value)


cdef object _leaf_typed(object adjoint, object leaf):
    """One input's derivative as core._Recording._gradient gives it: a
    traced one as it is, otherwise a number of the leaf's type (float for
    a traced leaf, 0 where no derivative reaches)."""
    if type(adjoint) is Scalar:
        return adjoint
    cdef double value = 0.0 if adjoint is None else adjoint
    if type(leaf) is _np_float64:
        return _np_float64(value)
    return value
