# cython: language_level=3, embedsignature=True
"""The Cython boundary of fastad: the tape, the traced types and the sweeps.

A `Tape` owns the C arrays of csrc/fastad_tape.c.  Scalar operations on a
traced `Scalar` push one node each (opcode, two operand indices, primal) and
allocate nothing else.  Every other operation is a `Primitive` call: its node
carries FA_EXT and its inputs, output and rules live in an `Ext` record of
the tape's side table.  The reverse sweep runs scalar nodes in C with the GIL
released and stops at each FA_EXT node to call its rules through NumPy.
"""
cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check, PyFloat_CheckExact
from cpython.long cimport PyLong_CheckExact
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp
from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer

import os

import numpy as np
cimport numpy as cnp

cnp.import_array()

# NumPy's array type, looked up once (module attribute lookups cost more than
# the type test itself on the per-operation path)
cdef type _ndarray = np.ndarray

#: whether the glibc malloc tuning of fa_tune_malloc is in force (set the
#: environment variable FASTAD_MALLOC_TUNING=0 before import to keep glibc's
#: defaults)
MALLOC_TUNED = bool(fa_tune_malloc()) if os.environ.get("FASTAD_MALLOC_TUNING", "1") != "0" else False

# The fastad.numpy module; bound by fastad/__init__.py once it is imported
# (the traced types delegate their array methods and operators to it).
_fnp = None


# fastad.debug_nans(): check every recorded result for NaN (off: one branch
# on a C flag per operation)
cdef bint _debug_nans = False


def set_debug_nans(bint enabled):
    """Raise FloatingPointError at the first recorded operation producing a
    NaN from inputs without one (returns the previous setting)."""
    global _debug_nans
    previous = _debug_nans
    _debug_nans = enabled
    return previous


def set_max_nodes(int64_t n):
    """Limit the nodes a tape may hold (tests reach the limit cheaply);
    returns the previous limit."""
    global fa_max_nodes
    previous = fa_max_nodes
    fa_max_nodes = n
    return previous


cdef object _nan_error(str name, tuple operands):
    return FloatingPointError(
        "debug_nans: '%s' produced NaN from %s (recorded at %s)"
        % (name, ", ".join(_describe_operand(o) for o in operands), _user_source()))


cdef str _describe_operand(object o):
    if type(o) is _ndarray:
        return "an array of shape %s" % ((<object>o).shape,)
    return repr(o)


def _bind_numpy(module):
    global _fnp
    _fnp = module


# --------------------------------------------------------------------------
# Errors raised on the recording path

class TracerError(RuntimeError):
    """A traced value was used outside the differentiation call it belongs to."""


class RetapeRequired(RuntimeError):
    """A recorded tape was replayed at inputs where a decision recorded with
    it (a comparison, abs/max/where condition, ...) comes out differently:
    the function may take another path there, so the tape does not apply."""


cdef object _stale_error():
    return TracerError(
        "a traced value was used after the fastad operator (grad, vjp, ...) that "
        "created it had returned: it escaped the function being differentiated "
        "(through a global, a closure or an attribute). Return it from the "
        "function instead of storing it.")


cdef object _mixed_error():
    return TracerError(
        "traced values from two different differentiation calls met in one "
        "operation (for example a value kept from an earlier fastad.grad call, "
        "or one shared between threads). Each call must compute from its own "
        "inputs.")


cdef object _tape_full_error():
    return MemoryError(
        "the fastad tape could not grow: out of memory, or more than 2**31 - 1 "
        "recorded operations")


cdef str _conversion_message(str what):
    return ("cannot convert a traced value to %s: the result would silently drop "
            "its derivative. Use fastad.numpy functions (fastad.numpy.sin, not "
            "math.sin) on traced values, and .value for the plain number when "
            "you do not want the derivative." % what)


cdef str _array_message():
    return ("a NumPy function without a fastad rule was applied to a traced value "
            "(NumPy tried to convert it to a plain array, which would drop its "
            "derivative). Use the fastad.numpy function of the same name, or "
            ".value for the plain array when you do not want the derivative.")


# --------------------------------------------------------------------------
# The tape

# The tape's objects are not tracked by the cyclic garbage collector: none
# can be part of a reference cycle (traced values point to their tape, the
# tape to its side table, the side table to plain values, never back), and
# a tape of a million objects would otherwise be traversed by every
# collection, and every traced scalar allocated would count towards one.
@cython.no_gc
cdef class Tape:
    """A flat record of operations: C arrays for scalar nodes and a side table
    (`exts`) for array and generic operations."""

    def __cinit__(self):
        fa_tape_init(&self.c)
        self.exts = []
        self.source_arrays = []
        self.active = True
        self.keep_all = False
        self.guarding = False
        self.kink_guards = False
        self.guard_sources = None

    def __dealloc__(self):
        fa_tape_free(&self.c)

    def __len__(self):
        return self.c.size

    def __reduce__(self):
        cdef int64_t n = self.c.size
        cdef int64_t m = self.c.n_constants
        return (_rebuild_tape, (TAPE_FORMAT,
                                (<char *>self.c.opcode)[:n * sizeof(uint8_t)] if n else b"",
                                (<char *>self.c.operand0)[:n * sizeof(int32_t)] if n else b"",
                                (<char *>self.c.operand1)[:n * sizeof(int32_t)] if n else b"",
                                (<char *>self.c.primal)[:n * sizeof(double)] if n else b"",
                                (<char *>self.c.constants)[:m * sizeof(double)] if m else b"",
                                self.exts, self.active, self.keep_all, self.guarding,
                                self.guard_sources,
                                [self.c.sources[i].node for i in range(self.c.n_sources)],
                                self.source_arrays))

    @property
    def nbytes(self):
        """Bytes held by the C arrays (the side table's NumPy arrays excluded)."""
        return fa_tape_nbytes(&self.c)

    def close(self):
        """End recording: traced values of this tape can no longer compute."""
        self.active = False

    def identity(self, object x):
        """A fresh node equal to the traced scalar or array `x` of this tape,
        with derivative 1 to it: how a nested operator gives its inputs their
        own identity, so levels never confuse their perturbations."""
        if type(x) is Scalar:
            return _with_constant(FA_MULC, <Scalar>x, 1.0)  # x * 1.0 is exact
        return _identity_primitive(x)

    # -- raw access for the sweeps written in Python (nested differentiation)

    def raw(self, int64_t i):
        """(opcode, operand0, operand1, primal) of node `i`, as stored."""
        if not 0 <= i < self.c.size:
            raise IndexError("node %d is out of range for a tape of %d nodes" % (i, self.c.size))
        return self.c.opcode[i], self.c.operand0[i], self.c.operand1[i], self.c.primal[i]

    def constant(self, int64_t k):
        return self.c.constants[k]

    def ext(self, int64_t i):
        """The side-table record of an FA_EXT node (None for scalar opcodes)."""
        return self._ext_of(i)

    def box(self, int64_t i):
        """A traced value for the existing node `i` (no node is recorded):
        how a sweep refers to a primal when it records its own work."""
        cdef Ext ext = self._ext_of(i)
        if ext is None or ext.scalar_out:
            return _new_scalar(self, i, self.c.primal[i])
        cdef Array out = Array.__new__(Array)
        out.tape = self
        out._node = i
        out._value = ext.value
        return out

    def box_with(self, int64_t i, object value):
        """A traced value for the existing array node `i` carrying `value`
        (a consumer's own copy of the primal, which the producer's record
        may have dropped)."""
        if self.is_scalar(i):
            return _new_scalar(self, i, self.c.primal[i])
        cdef Array out = Array.__new__(Array)
        out.tape = self
        out._node = i
        out._value = value
        return out

    def is_scalar(self, int64_t i):
        cdef Ext ext = self._ext_of(i)
        return ext is None or ext.scalar_out

    def node(self, int64_t i):
        """(opcode name, operands, primal) of node `i`: operands are node
        indices, or ("const", value) for a constant operand; array and
        generic nodes give their primitive's name and input nodes."""
        if not 0 <= i < self.c.size:
            raise IndexError("node %d is out of range for a tape of %d nodes" % (i, self.c.size))
        cdef int op = self.c.opcode[i]
        cdef Ext ext
        if op == FA_EXT:
            ext = <Ext>self.exts[self.c.operand0[i]]
            name = ext.primitive.name if ext.primitive is not None else "input"
            value = ext.value if not ext.scalar_out else self.c.primal[i]
            return name, tuple(node for _, node in ext.parents), value
        name = OPCODE_NAMES[op]
        if op == FA_LEAF:
            operands = ()
        elif op == FA_ELEM:
            operands = (self.c.sources[self.c.operand0[i]].node, ("const", self.c.operand1[i]))
        elif FA_ADDC <= op <= FA_RPOWC:
            constant = ("const", self.c.constants[self.c.operand1[i]])
            if op == FA_RSUBC or op == FA_RDIVC or op == FA_RPOWC:
                operands = (constant, self.c.operand0[i])  # c - x, c / x, c ** x
            else:
                operands = (self.c.operand0[i], constant)
        elif op >= FA_NEG:
            operands = (self.c.operand0[i],)
        else:
            operands = (self.c.operand0[i], self.c.operand1[i])
        return name, operands, self.c.primal[i]

    def node_adjoints(self, output, cotangent=1.0):
        """The adjoint of every scalar node for the cotangent of `output`
        (a traced scalar of this tape), as a float64 array indexed by node:
        the reverse evaluation trace."""
        cdef int64_t size = self.c.size
        cdef double *adjoint = self._new_adjoints(1)
        try:
            self._seed(adjoint, output, cotangent)
            self._sweep(adjoint, 0, size)
            return np.array(<double[:size]>adjoint) if size else np.zeros(0)
        finally:
            free(adjoint)
            self._end_source_buffers()
            for ext in self.exts:
                (<Ext>ext).adjoint = None

    def scalar_leaf(self, double value):
        """A new scalar input node."""
        cdef int64_t node = fa_push(&self.c, FA_LEAF, 0, 0, value)
        if node < 0:
            raise _tape_full_error()
        return _new_scalar(self, node, value)

    def array_leaf(self, object value):
        """A new array input node holding `value` (a float ndarray)."""
        cdef Ext ext = Ext.__new__(Ext)
        ext.primitive = None
        ext.args = ()
        ext.kwargs = None
        ext.parents = ()
        ext.inputs = ()
        ext.value = value
        ext.scalar_out = False
        ext.shape = value.shape
        ext.dtype = value.dtype
        return self._push_ext(ext, value)

    cdef object _push_ext(self, Ext ext, object value):
        """Append `ext` and return the traced value of its output `value`
        (the Ext may keep only a stand-in of it)."""
        cdef int64_t index = len(self.exts)
        cdef double primal = PyFloat_AS_DOUBLE(value) if ext.scalar_out else 0.0
        cdef int64_t node = fa_push(&self.c, FA_EXT, <int>index, 0, primal)
        if node < 0:
            raise _tape_full_error()
        self.exts.append(ext)
        if ext.scalar_out:
            return _new_scalar(self, node, primal)
        cdef Array out = Array.__new__(Array)
        out.tape = self
        out._node = node
        out._value = value
        return out

    cdef Ext _ext_of(self, int64_t node):
        if self.c.opcode[node] != FA_EXT:
            return None
        return <Ext>self.exts[self.c.operand0[node]]

    cpdef list backward(self, list seeds, list inputs):
        """Reverse sweep.

        `seeds` is a list of (traced output, cotangent) pairs; `inputs` a list
        of traced input values.  Returns the list of the inputs' adjoints:
        floats for scalar inputs, arrays of the input's shape and dtype for
        array inputs.
        """
        cdef int64_t size = self.c.size
        cdef double *adjoint = self._new_adjoints(1)
        try:
            for output, cotangent in seeds:
                self._seed(adjoint, output, cotangent)
            self._sweep(adjoint, 0, size)
            return [self._read_adjoint(adjoint, x) for x in inputs]
        finally:
            free(adjoint)
            self._end_source_buffers()
            for ext in self.exts:
                (<Ext>ext).adjoint = None

    def forward(self, int64_t start, list seeds, list outputs, int64_t k=1, bint batched=False):
        """Forward (tangent) sweep over nodes [start, len).

        `seeds`: (traced input, tangent) pairs.  With `batched`, `k`
        directions travel at once and every tangent has a leading axis of
        length k (scalar nodes: shape (k,)); otherwise k is 1 and tangents
        have their node's shape.  Returns the tangents of `outputs` (None
        where no seeded input reaches).  Scalar nodes are swept in C."""
        cdef int64_t size = self.c.size
        cdef int64_t i
        cdef double *tangent = <double *>calloc((size if size > 0 else 1) * k, sizeof(double))
        if tangent == NULL:
            raise MemoryError("no memory for the tangents of %d tape nodes" % size)
        cdef dict array_tangents = {}
        cdef Ext ext
        try:
            if self.c.n_sources:
                self._begin_source_tangents(k)
            for x, t in seeds:
                if self.is_scalar(x.node):
                    if batched:
                        for i in range(k):
                            tangent[x.node * k + i] = t[i]
                    else:
                        tangent[x.node] = t
                else:
                    array_tangents[x.node] = t
                    ext = self._ext_of(x.node)
                    if ext.source:
                        self._store_source_tangent(ext, t, k, batched)
            i = start
            while i < size:
                if self.c.opcode[i] != FA_EXT:  # (a run of scalar nodes: C, without the GIL)
                    with nogil:
                        i = fa_tangent(&self.c, tangent, k, i, size)
                if i >= size:
                    break
                ext = <Ext>self.exts[self.c.operand0[i]]
                if ext.primitive is not None:
                    t_out = self._tangent_ext(ext, tangent, array_tangents, k, batched)
                    if t_out is not None:
                        if ext.scalar_out:
                            if batched:
                                row = np.broadcast_to(np.asarray(t_out, np.float64), (k,))
                                for j in range(k):
                                    tangent[i * k + j] = row[j]
                            else:
                                tangent[i] = float(np.sum(t_out)) if np.ndim(t_out) else float(t_out)
                        else:
                            array_tangents[i] = t_out
                            if ext.source:
                                self._store_source_tangent(ext, t_out, k, batched)
                i += 1
            out = []
            for y in outputs:
                if self.is_scalar(y.node):
                    if batched:
                        out.append(_row(tangent, y.node, k))
                    else:
                        out.append(tangent[y.node])
                else:
                    out.append(array_tangents.get(y.node))
            return out
        finally:
            free(tangent)
            self._end_source_buffers()

    def taylor(self, int64_t start, list seeds, list outputs, int d, object ext_rule):
        """Propagate truncated Taylor series of degree `d` over nodes
        [start, len).  `seeds`: (traced input, series) pairs, a series being
        an array of shape (d + 1,) + the node's shape.  Scalar nodes run in
        C; `ext_rule(ext, {position: series}, d)` gives an FA_EXT node's
        series from its traced parents'.  Returns the series of `outputs`
        (None where no seed reaches)."""
        cdef int64_t size = self.c.size
        cdef int64_t n = d + 1
        cdef int64_t i, j
        cdef double *series = <double *>calloc((size if size > 0 else 1) * n, sizeof(double))
        cdef double *scratch = <double *>calloc(3 * n, sizeof(double))
        cdef dict array_series = {}
        cdef Ext ext
        cdef double[::1] row
        if series == NULL or scratch == NULL:
            free(series)
            free(scratch)
            raise MemoryError("no memory for Taylor series of %d tape nodes" % size)
        try:
            # every scalar node's constant term is its primal
            for i in range(size):
                series[i * n] = self.c.primal[i]
            for x, c in seeds:
                if self.is_scalar(x.node):
                    row = np.ascontiguousarray(c, dtype=np.float64)
                    for j in range(n):
                        series[x.node * n + j] = row[j]
                else:
                    array_series[x.node] = c
            i = start
            while i < size:
                with nogil:
                    i = fa_taylor(&self.c, series, d, i, size, scratch)
                if i >= size:
                    break
                if self.c.opcode[i] == FA_ELEM:
                    # an element's series: that element of its array's series
                    source = array_series.get(self.c.sources[self.c.operand0[i]].node)
                    if source is not None:
                        row = np.ascontiguousarray(
                            np.reshape(source, (n, -1))[:, self.c.operand1[i]], dtype=np.float64)
                        for j in range(1, n):
                            series[i * n + j] = row[j]
                    i += 1
                    continue
                ext = <Ext>self.exts[self.c.operand0[i]]
                if ext.primitive is not None:
                    parents = {}
                    for position, parent in ext.parents:
                        if self.is_scalar(parent):
                            parents[position] = _series_row(series, parent, n)
                        elif parent in array_series:
                            parents[position] = array_series[parent]
                    if parents:
                        out = ext_rule(ext, parents, d)
                        if ext.scalar_out:
                            row = np.ascontiguousarray(out, dtype=np.float64)
                            for j in range(1, n):
                                series[i * n + j] = row[j]
                        else:
                            array_series[i] = out
                i += 1
            result = []
            for y in outputs:
                if self.is_scalar(y.node):
                    result.append(_series_row(series, y.node, n))
                else:
                    result.append(array_series.get(y.node))
            return result
        finally:
            free(series)
            free(scratch)

    cdef object _tangent_ext(self, Ext ext, double *tangent, dict array_tangents,
                             int64_t k, bint batched):
        """The tangent of one FA_EXT node from its parents' tangents."""
        cdef Primitive prim = <Primitive>ext.primitive
        cdef object kwargs = ext.kwargs or {}
        cdef int64_t parent, j
        cdef Ext parent_ext
        if not batched and prim.opcode >= FA_ADD and len(ext.parents) == 1:
            t = array_tangents.get(ext.parents[0][1])
            if t is None:
                parent_ext = self._ext_of(ext.parents[0][1])
                if parent_ext is not None and not parent_ext.scalar_out:
                    return None  # no tangent reaches
            else:
                total = _c_step(ext, prim.opcode, t, None)
                if total is not None:
                    return total
        total = None
        out_shape = ext.shape
        for position, parent in ext.parents:
            parent_ext = self._ext_of(parent)
            if parent_ext is None or parent_ext.scalar_out:
                if batched:
                    t = _row(tangent, parent, k)
                    if not t.any():
                        continue
                else:
                    t = tangent[parent]
                    if t == 0.0:
                        continue
            else:
                t = array_tangents.get(parent)
                if t is None:
                    continue
            if position < len(prim.jvps):
                rule = prim.jvps[position]
            else:
                rule = _variadic_rule(prim.jvp_variadic, position)
            if rule is None:
                continue
            if not batched:
                if ext.kwargs:
                    contribution = rule(t, ext.value, *ext.args, **kwargs)
                else:
                    contribution = rule(t, ext.value, *ext.args)
            elif prim.jvps_batched is not None and prim.jvps_batched[position] is not None:
                # a rule that takes all directions at once (one BLAS call)
                contribution = prim.jvps_batched[position](t, ext.value, *ext.args, **kwargs)
            elif prim.elementwise:
                # align the direction axis in front of the output's axes
                parent_ndim = np.ndim(t) - 1
                t = np.reshape(t, (k,) + (1,) * (len(out_shape) - parent_ndim) + np.shape(t)[1:])
                contribution = rule(t, ext.value, *ext.args, **kwargs)
            else:
                contribution = np.stack([np.asarray(rule(t[j], ext.value, *ext.args, **kwargs))
                                         for j in range(k)])
            total = contribution if total is None else total + contribution
        if total is None:
            return None
        if batched:
            full_shape = (k,) + out_shape
            if type(total) is not _ndarray or (<object>total).shape != full_shape:
                total = np.broadcast_to(total, full_shape)
            if (<object>total).dtype != ext.dtype:
                total = (<object>total).astype(ext.dtype)
            return total
        if ext.scalar_out:
            return total
        if type(total) is not _ndarray:
            total = np.asarray(total)
        if (<object>total).shape != out_shape:
            total = np.broadcast_to(total, out_shape)
        if (<object>total).dtype is not ext.dtype and (<object>total).dtype != ext.dtype:
            total = (<object>total).astype(ext.dtype)
        return total

    def backward_many(self, object output, object cotangents, list inputs):
        """Reverse sweep carrying k cotangents of `output` at once:
        `cotangents` has shape (k,) + output.shape.  Returns each input's
        adjoints with shape (k,) + input.shape.  Scalar nodes run in C; an
        array operation's rule sees the k cotangents stacked in front
        (elementwise rules broadcast over them; the others run per row)."""
        cotangents = np.asarray(cotangents, np.float64)
        cdef int64_t k = cotangents.shape[0]
        cdef int64_t size = self.c.size
        cdef int64_t i, j, node
        cdef double *adjoint = self._new_adjoints(k)
        cdef dict blocks = {}
        try:
            node = output.node
            if self.is_scalar(node):
                for j in range(k):
                    adjoint[node * k + j] = cotangents[j]
            else:
                blocks[node] = cotangents.astype(self._ext_of(node).dtype)
            i = size - 1
            while i >= 0:
                with nogil:
                    i = fa_reverse_k(&self.c, adjoint, k, 0, i + 1)
                if i < 0:
                    break
                self._reverse_ext_many(adjoint, blocks, k, i)
                i -= 1
            result = []
            for x in inputs:
                if self.is_scalar(x.node):
                    result.append(_row(adjoint, x.node, k))
                else:
                    ext = self._ext_of(x.node)
                    block = blocks.get(x.node)
                    result.append(np.zeros((k,) + ext.shape, ext.dtype) if block is None else block)
            return result
        finally:
            free(adjoint)
            self._end_source_buffers()

    cdef _reverse_ext_many(self, double *adjoint, dict blocks, int64_t k, int64_t node):
        cdef Ext ext = <Ext>self.exts[self.c.operand0[node]]
        if ext.source:
            self._accumulate_many(adjoint, blocks, k, node, self._source_adjoint(ext, k))
        if ext.primitive is None or ext.guard:
            return
        g = _row(adjoint, node, k) if ext.scalar_out else blocks.pop(node, None)
        if g is None or not g.any():
            return
        cdef Primitive prim = <Primitive>ext.primitive
        kwargs = ext.kwargs or {}
        out_shape = ext.shape
        for position, parent in ext.parents:
            rule = prim.vjp_rule(position)
            if prim.elementwise:
                block = rule(g.reshape((k,) + out_shape), ext.value, *ext.args, **kwargs)
                block = np.broadcast_to(block, (k,) + tuple(np.broadcast_shapes(np.shape(block)[1:], out_shape)))
            else:
                block = np.stack([np.asarray(rule(g[j], ext.value, *ext.args, **kwargs))
                                  for j in range(k)])
            self._accumulate_many(adjoint, blocks, k, parent, block)

    cdef _accumulate_many(self, double *adjoint, dict blocks, int64_t k, int64_t node, object block):
        cdef Ext ext = self._ext_of(node)
        cdef int64_t j
        cdef double[::1] rows
        if ext is None or ext.scalar_out:
            rows = np.ascontiguousarray(np.reshape(block, (k, -1)).sum(axis=1), dtype=np.float64)
            for j in range(k):
                adjoint[node * k + j] += rows[j]
            return
        shape = ext.shape
        block = np.asarray(block)
        extra = block.ndim - 1 - len(shape)
        if extra > 0:
            block = block.sum(axis=tuple(range(1, 1 + extra)))
        axes = tuple([1 + a for a in range(len(shape))
                      if shape[a] == 1 and block.shape[1 + a] != 1])
        if axes:
            block = block.sum(axis=axes, keepdims=True)
        block = np.broadcast_to(block, (k,) + shape).astype(ext.dtype)
        previous = blocks.get(node)
        blocks[node] = block if previous is None else previous + block

    cpdef replay(self, list leaves, list values):
        """Re-evaluate every node at new input values (`leaves`: the input
        nodes' traced values from the recording; `values`: their new values,
        of the same shapes and dtypes).  Scalar nodes run in C with the GIL
        released; array nodes call their NumPy function.  Raises
        RetapeRequired where a recorded decision comes out differently."""
        cdef int64_t size = self.c.size
        cdef int64_t i = 0
        cdef int64_t flipped = -1
        cdef Ext ext
        for leaf, value in zip(leaves, values):
            if type(leaf) is Scalar:
                self.c.primal[(<Scalar>leaf).node] = value
            else:
                ext = self._ext_of((<Array>leaf).node)
                ext.value = value
                if ext.source:
                    self._set_source(ext, value)
        while i < size:
            if self.c.opcode[i] != FA_EXT:  # (a run of scalar nodes: C, without the GIL)
                with nogil:
                    i = fa_replay(&self.c, i, size, &flipped)
            if flipped >= 0:
                raise self._flip_error(flipped)
            if i >= size:
                break
            ext = <Ext>self.exts[self.c.operand0[i]]
            if ext.primitive is not None:
                self._replay_ext(ext, i)
            i += 1

    def value_and_gradient(self, list leaves, list values, int64_t output):
        """Replay at `values` and sweep from the scalar node `output`
        (cotangent 1): (its value, the leaves' adjoints).  The replayed
        tape's gradient in one call."""
        self.replay(leaves, values)
        cdef Scalar box = _new_scalar(self, output, self.c.primal[output])
        return box.value, self.backward([(box, 1.0)], leaves)

    cdef object _flip_error(self, int64_t node):
        source = (self.guard_sources or {}).get(node, "<unknown>")
        recorded = self.c.primal[node] != 0.0
        if "(the branch of " in source:
            return RetapeRequired(
                "'%s' recorded at %s takes another branch at these inputs (a kink of a "
                "piecewise function was crossed): the recorded tape does not apply. Record "
                "again at these inputs, use fastad.record(..., retape=True), or "
                "fastad.record(..., guard_kinks=False) to recompute piecewise derivatives at "
                "each replay instead (exact)."
                % (source.split("(the branch of ")[1].rstrip(")"), source.split(" (the branch")[0]))
        return RetapeRequired(
            "the comparison '%s' recorded at %s was %s and is now %s at these inputs: the "
            "function may take another branch, so the recorded tape does not apply. Record "
            "again at these inputs, or use fastad.record(..., retape=True)."
            % (OPCODE_NAMES.get(self.c.opcode[node], "?"), source, recorded, not recorded))

    cdef _replay_ext(self, Ext ext, int64_t node):
        cdef Primitive prim = <Primitive>ext.primitive
        cdef list args = list(ext.args)
        cdef Ext parent
        for position, parent_node in ext.inputs:
            parent = self._ext_of(parent_node)
            if parent is None or parent.scalar_out:
                args[position] = self.c.primal[parent_node]
            else:
                args[position] = parent.value
        value = prim.fun(*args, **(ext.kwargs or {}))
        if ext.guard:
            if not _same_value(value, ext.value):
                if prim.name.startswith("branch of "):
                    raise RetapeRequired(
                        "'%s' recorded at %s takes another branch at these inputs (a kink of "
                        "a piecewise function was crossed): the recorded tape does not apply. "
                        "Record again at these inputs, use fastad.record(..., retape=True), or "
                        "fastad.record(..., guard_kinks=False) to recompute piecewise "
                        "derivatives at each replay instead (exact)." % (prim.name[10:], ext.where))
                raise RetapeRequired(
                    "'%s' at %s gives a different result at these inputs than when the tape "
                    "was recorded, and the function used that result as a constant (a branch "
                    "condition, say): the recorded tape does not apply. Record again at these "
                    "inputs, or use fastad.record(..., retape=True)." % (prim.name, ext.where))
            return
        ext.args = tuple(args)
        if ext.scalar_out:
            self.c.primal[node] = float(value)
            ext.value = float(value)
        else:
            ext.value = value if type(value) is _ndarray else np.asarray(value)
            if ext.source:
                self._set_source(ext, ext.value)

    cdef _seed(self, double *adjoint, object output, object cotangent):
        cdef Ext ext
        if type(output) is Scalar:
            adjoint[(<Scalar>output).node] += float(cotangent)
        elif type(output) is Array:
            ext = self._ext_of((<Array>output).node)
            ext.add_adjoint(cotangent)

    cdef object _read_adjoint(self, double *adjoint, object x):
        cdef Ext ext
        if type(x) is Scalar:
            return adjoint[(<Scalar>x).node]
        ext = self._ext_of((<Array>x).node)
        if ext.adjoint is None:
            return np.zeros(ext.shape, ext.dtype)
        if ext.adjoint_owned:
            return ext.adjoint
        return _materialize(ext.adjoint, ext.shape, ext.dtype)

    cdef _sweep(self, double *adjoint, int64_t start, int64_t end):
        cdef int64_t i = end - 1
        cdef fa_tape *c = &self.c
        while i >= start:
            if c.opcode[i] != FA_EXT:  # (a run of scalar nodes: C, without the GIL)
                with nogil:
                    i = fa_reverse(c, adjoint, start, i + 1)
            if i < start:
                break
            self._reverse_ext(adjoint, i)
            i -= 1

    cdef _reverse_ext(self, double *adjoint, int64_t node):
        cdef Ext ext = <Ext>self.exts[self.c.operand0[node]]
        cdef object g
        if ext.source:
            # every element read of this array lies above it: its adjoint is complete
            ext.add_adjoint(self._source_adjoint(ext, 1).reshape(ext.shape))
        if ext.primitive is None or ext.guard:
            return
        if ext.scalar_out:
            g = adjoint[node]
        else:
            g = ext.adjoint
            if g is None:
                return
        cdef Primitive prim = <Primitive>ext.primitive
        cdef object kwargs = ext.kwargs
        cdef Ext parent_ext
        cdef Py_ssize_t position
        if prim is _fused_primitive and _reverse_fused(self, ext, g):
            return
        if (prim.opcode >= FA_ADD and not ext.scalar_out
                and self._reverse_unary_fast(ext, prim.opcode, g)):
            return
        if prim is _getitem_primitive:
            # scatter-add straight into the array's adjoint: no zero array per
            # indexing operation, and a Python loop over x[i] stays linear
            parent_ext = self._ext_of(ext.parents[0][1])
            parent_ext.add_adjoint_at(ext.args[1], g)
            return
        cdef bint lazy = not ext.scalar_out and (<object>g).shape != ext.shape
        if lazy and not prim.elementwise:
            g = _materialize(g, ext.shape, (<object>g).dtype)  # (what broadcast_to and a copy give)
            lazy = False
        cdef object g_parent
        for position, parent in ext.parents:
            g_parent = g
            if lazy and self._shape_of(parent) != ext.shape:
                # The unexpanded cotangent stands for one of the output's full
                # shape; an input that was broadcast must sum it over the
                # broadcast axes, so it gets the full (stride-0) view.
                g_parent = np.broadcast_to(g, ext.shape)
            if position < len(prim.vjps):
                rule = prim.vjps[position]
                if kwargs:
                    cotangent = rule(g_parent, ext.value, *ext.args, **kwargs)
                else:
                    cotangent = rule(g_parent, ext.value, *ext.args)
            elif kwargs:
                cotangent = prim.vjp_variadic(position, g_parent, ext.value, *ext.args, **kwargs)
            else:
                cotangent = prim.vjp_variadic(position, g_parent, ext.value, *ext.args)
            if cotangent is not None:
                self._accumulate(adjoint, parent, cotangent,
                                 _fresh(cotangent, g_parent, g, ext))

    # -- sources: arrays whose elements scalar nodes read (FA_ELEM) ----------

    def source(self, int64_t slot):
        """(node, shape) of source `slot`: the array an FA_ELEM node reads."""
        if not 0 <= slot < self.c.n_sources:
            raise IndexError("source %d is out of range (%d sources)" % (slot, self.c.n_sources))
        node = self.c.sources[slot].node
        return node, self._ext_of(node).shape

    cdef int64_t _source_slot(self, Array x) except -1:
        """The source index of the float64 array node `x`, registering it on
        first use."""
        cdef Ext ext = self._ext_of(x._node)
        if ext.source:
            return ext.source - 1
        data = np.ascontiguousarray(x._value)
        cdef const double[::1] view = data.reshape(-1)
        cdef int64_t slot = fa_push_source(&self.c, x._node, &view[0], view.shape[0])
        if slot < 0:
            raise _tape_full_error()
        self.source_arrays.append(data)
        ext.source = <int>(slot + 1)
        return slot

    cdef _set_source(self, Ext ext, object value):
        """Point the source of `ext` at its new primal `value` (replay)."""
        cdef int64_t slot = ext.source - 1
        data = np.ascontiguousarray(value, dtype=np.float64)
        cdef const double[::1] view = data.reshape(-1)
        if view.shape[0] != self.c.sources[slot].size:
            raise ValueError("a replayed array changed its size from %d to %d"
                             % (self.c.sources[slot].size, view.shape[0]))
        self.c.sources[slot].data = &view[0]
        self.source_arrays[slot] = data

    cdef double *_new_adjoints(self, int64_t k) except NULL:
        """Zeroed adjoints (k per entry) for one sweep: the nodes', then the
        sources' elements' (where the element reads add theirs)."""
        cdef int64_t entries = self.c.size + self.c.source_elements
        cdef double *adjoint = <double *>calloc(entries * k, sizeof(double))
        if adjoint == NULL:
            raise MemoryError("no memory for %d adjoints of %d tape nodes and %d array elements"
                              % (k, self.c.size, self.c.source_elements))
        self.c.source_adjoint = adjoint + self.c.size * k
        return adjoint

    cdef _begin_source_tangents(self, int64_t k):
        cdef double *buffer = <double *>calloc(self.c.source_elements * k, sizeof(double))
        if buffer == NULL:
            raise MemoryError("no memory for the tangents of %d array elements"
                              % self.c.source_elements)
        self.c.source_tangent = buffer

    cdef _end_source_buffers(self):
        free(<void *>self.c.source_tangent)  # (the adjoints belong to their sweep)
        self.c.source_adjoint = NULL
        self.c.source_tangent = NULL

    cdef object _source_adjoint(self, Ext ext, int64_t k):
        """A copy of the adjoint the element reads of `ext` gathered: shape
        (size,) for k == 1, else (k,) + ext.shape."""
        cdef fa_source *source = &self.c.sources[ext.source - 1]
        cdef int64_t n = source.size * k
        if n == 0:
            return np.zeros((source.size,) if k == 1 else (k,) + ext.shape)
        block = np.array(<double[:n]>(self.c.source_adjoint + source.offset * k))
        if k == 1:
            return block
        return np.ascontiguousarray(block.reshape(source.size, k).T).reshape((k,) + ext.shape)

    cdef _store_source_tangent(self, Ext ext, object t, int64_t k, bint batched):
        """Copy the tangent(s) of source array `ext` where its FA_ELEM nodes
        read them (k per element)."""
        cdef fa_source *source = &self.c.sources[ext.source - 1]
        cdef int64_t n = source.size
        if n == 0:
            return
        cdef double[:, ::1] target = <double[:n, :k]>(<double *>self.c.source_tangent
                                                      + source.offset * k)
        t = np.asarray(t, dtype=np.float64)
        if batched:
            np.asarray(target)[...] = np.broadcast_to(t, (k,) + ext.shape).reshape(k, n).T
        else:
            np.asarray(target)[...] = np.broadcast_to(t, ext.shape).reshape(n, 1)

    cdef bint _reverse_unary_fast(self, Ext ext, int opcode, object g) except -1:
        """The reverse step in C (see _c_step): the parent's adjoint gets its
        cotangent in one pass, in place where it is already ours.  False
        where C does not apply: the rule then runs."""
        if len(ext.parents) != 1:
            return False
        cdef Ext target = self._ext_of(ext.parents[0][1])
        if target is None or target.scalar_out or target.dtype is not ext.dtype:
            return False
        cdef object into = None
        if target.adjoint is not None:
            if not target.adjoint_owned:
                return False
            into = target.adjoint
        out = _c_step(ext, opcode, g, into)
        if out is None:
            return False
        target.adjoint = out
        target.adjoint_owned = True
        return True

    cdef tuple _shape_of(self, int64_t node):
        cdef Ext ext = self._ext_of(node)
        return () if ext is None else ext.shape

    cdef _accumulate(self, double *adjoint, int64_t node, object cotangent, bint fresh=False):
        cdef Ext ext = self._ext_of(node)
        if ext is None or ext.scalar_out:
            if PyFloat_Check(cotangent):
                adjoint[node] += PyFloat_AS_DOUBLE(cotangent)
            else:
                adjoint[node] += float(np.sum(cotangent))
        else:
            ext.add_adjoint(cotangent, fresh)


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


cdef object _c_step(Ext ext, int opcode, object g, object into):
    """g times the local derivative of the array operation `ext` in its one
    traced argument, in C, for a unary elementwise opcode, for add,
    subtract, multiply, divide or ** 2 with a float constant (float64), and
    for maximum or minimum with a float constant (relu; float64 and
    float32), all arrays of one shape: the reverse step (g a cotangent,
    added `into` the parent's adjoint when given) and, the rules being
    linear in g, the tangent step (g a tangent).  Written into `into` (or a
    new array), which is returned; None where anything differs (dtype,
    shape, layout, a stand-in primal): the rule then runs."""
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
        accumulate = 1
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
    if not (<Primitive>ext.primitive).fresh_results:
        return False
    if type(c) is not _ndarray or cnp.PyArray_BASE(<cnp.ndarray>c) != NULL:
        return False
    if c is g_parent or c is g or c is ext.value:
        return False
    for a in ext.args:
        if c is a:
            return False
    return True


cpdef object unbroadcast(object cotangent, tuple shape, object dtype):
    """Sum `cotangent` over the axes that broadcasting added or stretched,
    so that it broadcasts to `shape` (broadcasting forward is a sum
    backward), and cast it to `dtype`.  Axes where the cotangent is already
    smaller (length 1, or missing in front) are left unexpanded: the caller
    materializes the full shape only when it must."""
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
    differentiated again.

    Functions of any number of arrays (concatenate, stack) give `variadic`
    rules instead, `rule(position, g, ans, *args, **kwargs)`, used for every
    argument from `len(vjps)` on.

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
        from .ops import REGISTRY
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


cdef object _series_row(double *series, int64_t node, int64_t n):
    cdef double *start = series + node * n
    return np.array(<double[:n]>start)


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


cdef object _row(double *tangent, int64_t node, int64_t k):
    """A copy of the k directions' tangents of a scalar node."""
    cdef double *start = tangent + node * k
    return np.array(<double[:k]>start)


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
        if (<object>value).dtype.kind != "f":
            if tape.guarding:
                _push_guard(tape, prim, raw, kwargs, inputs, value)
            return value
        ext.scalar_out = False
    elif PyFloat_Check(value):
        ext.scalar_out = True
        value = float(value)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind != "f":
            if tape.guarding:
                _push_guard(tape, prim, raw, kwargs, inputs, value)
            return value
        ext.scalar_out = False
    elif isinstance(value, np.floating):
        # float32 (or other non-float64) scalars stay arrays, keeping their dtype
        value = np.asarray(value)
        ext.scalar_out = False
    else:
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
        fused = _try_fuse(prim.opcode, x, right, left)
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


# --------------------------------------------------------------------------
# Fusion: arithmetic on large float64 arrays as one program
#
# On arrays of many elements, a chain of NumPy operations costs a pass over
# memory each, and an array per intermediate result; a gradient doubles both.
# So +, -, *, /, negation, square and sqrt of large float64 arrays of one
# shape (with each other or with Python floats) do not compute at once: they
# return a *pending* array, which holds its operation and operands.  The
# first use that needs numbers (any other operation, .value, the sweep)
# evaluates the whole expression as one FA_EXT node of the primitive
# "fused": a program (see fa_fop in fastad_tape.h) over the expression's
# leaf arrays, run a block of elements at a time in C; a full sum of a
# pending array is a program too, and never forms the array.  The node's
# reverse step recomputes the block's values and sweeps them back in the
# same pass.  Its rules in fastad/ops/fused.py expand the program into
# fastad's own operations for every other sweep (nested, forward, Taylor,
# batched), so nothing else needs to know about programs.
#
# Only tapes recording for a first-order reverse sweep fuse (keep_all off:
# no nested or forward-mode operator, no recording of fastad.record, no
# debug_nans).  The values are NumPy's bit for bit (the same IEEE operations
# on the same elements; sums in NumPy's pairwise order).

#: arrays of at least this many elements fuse (smaller ones stay in cache,
#: where NumPy's own calls cost less than building a program)
cdef Py_ssize_t _FUSE_MIN_SIZE = 1 << 16
#: instructions per program at most (a longer expression evaluates its
#: operands first)
cdef int _FUSE_MAX_LENGTH = 64

cdef Primitive _fused_primitive = None
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


FUSED_OPCODES = {
    "add": FA_ADD, "subtract": FA_SUB, "multiply": FA_MUL, "true_divide": FA_DIV,
    "add_constant": FA_ADDC, "constant_minus": FA_RSUBC, "multiply_constant": FA_MULC,
    "divide_constant": FA_DIVC, "constant_divide": FA_RDIVC, "negative": FA_NEG,
    "square": FA_SQUARE, "sqrt": FA_SQRT,
}


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
    if _FUSE_MIN_SIZE < 0 or x.tape.keep_all or x.tape.guarding or _debug_nans:
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


cdef object _try_fuse(int opcode, Array x, object right, object left):
    """The pending array of the elementwise `opcode` on x (with `right`, a
    traced array or a float, or the float `left` before x), or None where it
    does not fuse."""
    cdef Array other = None
    cdef double c = 0.0
    if not _fusable(x):
        return None
    if right is None and left is None:
        if opcode == FA_NEG or opcode == FA_SQUARE or opcode == FA_SQRT:
            return _pending(opcode, x, None, 0.0)
        return None
    if type(right) is Array:
        other = <Array>right
        if (opcode < FA_ADD or opcode > FA_DIV or not _fusable(other)
                or _shape_of_array(other) != _shape_of_array(x)):
            return None
        return _pending(opcode, x, other, 0.0)
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
        if opcode == FA_POW and c == 2.0:
            return _pending(FA_SQUARE, x, None, 0.0)  # (NumPy's x ** 2 is x * x)
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
    return None


cdef int _emit(Array x, list code, dict numbers, list leaves, dict leaf_numbers) except? -2147483647:
    """Append the instructions of pending x (operands first) to `code`;
    returns x's operand reference: instruction j as j, leaf k as -1 - k."""
    cdef object key
    if not x._op:
        key = x._node
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


cdef fa_fop *_packed(tuple program, int n_leaves) except NULL:
    """The program as C instructions (freed by the caller); ValueError for
    a malformed one (a corrupt pickle)."""
    cdef Py_ssize_t n = len(program)
    cdef fa_fop *code = <fa_fop *>calloc(n if n else 1, sizeof(fa_fop))
    if code == NULL:
        raise MemoryError("no memory for a fused program of %d instructions" % n)
    cdef Py_ssize_t j
    try:
        for j in range(n):
            op, a, b, c = program[j]
            code[j].op = op
            code[j].a = a
            code[j].b = -1 if b is None else b
            code[j].c = c
    except (TypeError, ValueError, OverflowError):
        free(code)
        raise ValueError("a fused program holds a malformed instruction")
    if fa_fused_check(code, <int32_t>n, n_leaves) != 0:
        free(code)
        raise ValueError("a fused program holds an invalid instruction (a corrupt tape?)")
    return code


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
        if side == 1:
            values.append(ufunc(values[a], c))
        elif side == -1:
            values.append(ufunc(c, values[a]))
        elif b is None:
            values.append(ufunc(values[a]))
        else:
            values.append(ufunc(values[a], values[b]))
    return float(np.add.reduce(values[-1], axis=None)) if total else values[-1]


def fused_eval(tuple program, tuple leaves, bint total):
    """Evaluate a fused program on float64 arrays of one shape: its result
    array, or with `total` the sum of its elements (as numpy.sum of that
    array rounds)."""
    cdef int n_leaves = len(leaves)
    if n_leaves == 0:
        raise ValueError("a fused program needs at least one leaf")
    shape = np.shape(leaves[0])
    cdef Py_ssize_t size = _size_of(shape)
    cdef list arrays = _leaf_arrays(leaves, size)
    cdef fa_fop *code = _packed(program, n_leaves)
    cdef int32_t n_code = <int32_t>len(program)
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(n_code, n_leaves), sizeof(double))
    cdef double total_value = 0.0
    cdef int status
    cdef double *outp = NULL
    try:
        if pointers == NULL or scratch == NULL:
            raise MemoryError("no memory to evaluate a fused program")
        for k in range(n_leaves):
            pointers[k] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>arrays[k])
        if total:
            with nogil:
                status = fa_fused_sum(code, n_code, n_leaves, pointers, size, &total_value,
                                      scratch)
            out = total_value
        else:
            out = cnp.PyArray_EMPTY(len(shape), cnp.PyArray_DIMS(<cnp.ndarray>arrays[0]),
                                    cnp.NPY_DOUBLE, 0)
            outp = <double *>cnp.PyArray_DATA(<cnp.ndarray>out)
            with nogil:
                status = fa_fused_eval(code, n_code, n_leaves, pointers, size, outp, scratch)
        if status < 0:
            raise ValueError("a fused program holds an invalid instruction")
        if status > 0 and _reported(status):
            return _numpy_eval(program, arrays, shape, total)
        return out
    finally:
        free(code)
        free(<void *>pointers)
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
    value = fused_eval(program, args, total)
    cdef Ext ext = Ext.__new__(Ext)
    ext.primitive = _fused_primitive
    ext.kwargs = {"program": program, "total": True} if total else {"program": program}
    ext.parents = tuple([(k, (<Array>leaves[k])._node) for k in range(len(leaves))])
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


cdef bint _reverse_fused(Tape tape, Ext ext, object g) except -1:
    """The reverse step of a fused node in C: every leaf's cotangent in one
    pass over blocks (the values recomputed per block), written into the
    leaf's adjoint in place where it is ours.  False where the cotangent or
    a leaf is not plain float64: the expanding rule then runs."""
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
    program = ext.kwargs["program"]
    cdef fa_fop *code = _packed(program, n_leaves)
    cdef int32_t n_code = <int32_t>len(program)
    cdef const double **pointers = <const double **>calloc(n_leaves, sizeof(double *))
    cdef double **adjoints = <double **>calloc(n_leaves, sizeof(double *))
    cdef int *accumulate = <int *>calloc(n_leaves, sizeof(int))
    cdef double *scratch = <double *>calloc(fa_fused_scratch(n_code, n_leaves), sizeof(double))
    cdef list outputs = [None] * n_leaves  # (new arrays to hand to add_adjoint)
    cdef int status
    cdef Py_ssize_t k
    try:
        if pointers == NULL or adjoints == NULL or accumulate == NULL or scratch == NULL:
            raise MemoryError("no memory for the reverse step of a fused program")
        for k in range(n_leaves):
            pointers[k] = <const double *>cnp.PyArray_DATA(<cnp.ndarray>leaves[k])
            target = tape._ext_of(ext.parents[k][1])
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
            status = fa_fused_vjp(code, n_code, n_leaves, pointers, size, gp, g_scalar,
                                  adjoints, accumulate, scratch)
        if status != 0:
            raise ValueError("a fused program holds an invalid instruction")
        for k in range(n_leaves):
            if outputs[k] is not None:
                target = tape._ext_of(ext.parents[k][1])
                target.add_adjoint(outputs[k].reshape(target.shape), True)
        return True
    finally:
        free(code)
        free(<void *>pointers)
        free(adjoints)
        free(accumulate)
        free(scratch)


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
    """'file:line' of the innermost caller outside fastad (for guard messages)."""
    import sys
    frame = sys._getframe(1)
    while frame is not None and _FASTAD_DIR in frame.f_code.co_filename:
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return "%s:%d" % (frame.f_code.co_filename, frame.f_lineno)


_FASTAD_DIR = os.path.dirname(os.path.abspath(__file__))


# -- the pickled form of tapes ------------------------------------------------

#: version of the tape's pickled form, checked on load
TAPE_FORMAT = 2


def _rebuild_tape(version, opcode, operand0, operand1, primal, constants, exts, active,
                  keep_all, guarding, guard_sources, source_nodes=(), source_arrays=()):
    if version != TAPE_FORMAT:
        raise ValueError(
            "this fastad tape was pickled in format %r, but this fastad (%s) reads format %d; "
            "record it again with this version" % (version, _version(), TAPE_FORMAT))
    cdef Tape tape = Tape()
    cdef int64_t n = len(primal) // sizeof(double)
    cdef int64_t m = len(constants) // sizeof(double)
    cdef int64_t i
    cdef const uint8_t[:] ops = opcode
    cdef const int32_t[:] a0 = np.frombuffer(operand0, dtype=np.int32)
    cdef const int32_t[:] a1 = np.frombuffer(operand1, dtype=np.int32)
    cdef const double[:] values = np.frombuffer(primal, dtype=np.float64)
    cdef const double[:] consts = np.frombuffer(constants, dtype=np.float64)
    if not (len(ops) == len(a0) == len(a1) == n):
        raise ValueError("a pickled fastad tape has columns of different lengths")
    for i in range(n):
        if not _valid_node(ops[i], a0[i], a1[i], i, m, len(exts), len(source_nodes)):
            raise ValueError("a pickled fastad tape is corrupt at node %d (opcode %d, "
                             "operands %d, %d)" % (i, ops[i], a0[i], a1[i]))
        if fa_push(&tape.c, ops[i], a0[i], a1[i], values[i]) < 0:
            raise _tape_full_error()
    for i in range(m):
        if fa_push_constant(&tape.c, consts[i]) < 0:
            raise _tape_full_error()
    tape.exts = list(exts)
    cdef Ext ext
    cdef const double[::1] view
    for node, data in zip(source_nodes, source_arrays):
        data = np.ascontiguousarray(data, dtype=np.float64)
        view = data.reshape(-1)
        if not (0 <= node < n and ops[node] == FA_EXT):
            raise ValueError("a pickled fastad tape is corrupt: source node %r" % (node,))
        if fa_push_source(&tape.c, node, &view[0] if view.shape[0] else NULL, view.shape[0]) < 0:
            raise _tape_full_error()
        tape.source_arrays.append(data)
        ext = tape._ext_of(node)
        ext.source = <int>tape.c.n_sources
    for i in range(n):
        if ops[i] == FA_ELEM and a1[i] >= tape.c.sources[a0[i]].size:
            raise ValueError("a pickled fastad tape is corrupt at node %d (element %d of an "
                             "array of %d)" % (i, a1[i], tape.c.sources[a0[i]].size))
    tape.active = active
    tape.keep_all = keep_all
    tape.guarding = guarding
    tape.guard_sources = guard_sources
    return tape


cdef bint _valid_node(int op, int64_t a, int64_t b, int64_t i, int64_t n_constants,
                      int64_t n_exts, int64_t n_sources):
    """Whether node i of an unpickled tape refers only to what exists (the
    sweeps index with its operands unchecked)."""
    if op >= FA_N_OPCODES:
        return False
    if op == FA_LEAF:
        return True
    if op == FA_EXT:
        return 0 <= a < n_exts
    if op == FA_ELEM:
        return 0 <= a < n_sources and b >= 0  # (the element is checked with its source)
    if FA_ADDC <= op <= FA_RPOWC:
        return 0 <= a < i and 0 <= b < n_constants
    if op >= FA_NEG:
        return 0 <= a < i
    return 0 <= a < i and 0 <= b < i


def _version():
    from ._version import __version__
    return __version__


def _rebuild_ext(primitive, args, kwargs, parents, inputs, value, scalar_out, shape, dtype,
                 guard, where):
    cdef Ext ext = Ext.__new__(Ext)
    ext.primitive = primitive
    ext.args = args
    ext.kwargs = kwargs
    ext.parents = parents
    ext.inputs = inputs
    ext.value = value
    ext.scalar_out = scalar_out
    ext.shape = shape
    ext.dtype = dtype
    ext.guard = guard
    ext.where = where
    return ext


def _primitive_by_name(name):
    from .ops import REGISTRY
    return REGISTRY[name]


def _rebuild_box(Tape tape, int64_t node):
    return tape.box(node)


cdef bint _same_value(object a, object b):
    if type(a) is _ndarray or type(b) is _ndarray:
        return np.array_equal(a, b)
    return a == b


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


# --------------------------------------------------------------------------
# Traced scalars: the fast path

@cython.freelist(1024)
@cython.no_gc
@cython.final
cdef class Scalar:
    """A traced float64 scalar: a node of a tape and its primal value.

    Arithmetic with other traced scalars and with plain numbers records one
    node on the tape.  Follows NumPy float64 semantics (IEEE results such as
    inf and nan instead of Python's ZeroDivisionError)."""

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
    if type(other) is Array or isinstance(other, (np.ndarray, list, tuple)):
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


# --------------------------------------------------------------------------
# Element access: x[i] of a traced float64 array is a scalar node (FA_ELEM)

cdef object _float64 = np.dtype(np.float64)


cdef object _float32 = np.dtype(np.float32)


cdef inline bint _plain(object a, object like, int typenum):
    """A C-contiguous, aligned ndarray of `typenum` (not a stand-in, whose
    elements all alias one) of the shape of the ndarray `like`."""
    if type(a) is not _ndarray:
        return False
    cdef cnp.ndarray array = <cnp.ndarray>a
    cdef cnp.ndarray reference = <cnp.ndarray>like
    cdef int ndim = cnp.PyArray_NDIM(array)
    return (cnp.PyArray_TYPE(array) == typenum and cnp.PyArray_IS_C_CONTIGUOUS(array)
            and cnp.PyArray_ISALIGNED(array) and ndim == cnp.PyArray_NDIM(reference)
            and memcmp(cnp.PyArray_DIMS(array), cnp.PyArray_DIMS(reference),
                       ndim * sizeof(cnp.npy_intp)) == 0)
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
    and methods record through fastad.numpy."""

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
        return _fnp.power(self, other)

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


# --------------------------------------------------------------------------
# fastad.numpy functions with a scalar fast path.  Each calls the C kernel for
# a traced scalar and otherwise the registered Primitive (plain NumPy for
# untraced input, an FA_EXT node for traced arrays).

cdef list _unary_primitives = [None] * FA_N_OPCODES
cdef list _binary_primitives = [None] * FA_N_OPCODES


def register_scalar_opcode(int opcode, Primitive primitive):
    """Route the fast function of `opcode` to `primitive` for non-scalar input."""
    if FA_NEG <= opcode < FA_N_OPCODES:
        _unary_primitives[opcode] = primitive
    else:
        _binary_primitives[opcode] = primitive


FIRST_COMPARISON, LAST_COMPARISON = FA_LT, FA_NE
ELEM_OPCODE = FA_ELEM
CONST_OPCODE_ADD, CONST_OPCODE_POW = FA_ADDC, FA_POWC
FIRST_BINARY, LAST_BINARY = FA_ADD, FA_HYPOT
#: opcode with a constant operand -> (its binary opcode, constant comes first)
CONST_OPCODES = {
    FA_ADDC: (FA_ADD, False), FA_RSUBC: (FA_SUB, True), FA_MULC: (FA_MUL, False),
    FA_DIVC: (FA_DIV, False), FA_RDIVC: (FA_DIV, True), FA_POWC: (FA_POW, False),
    FA_RPOWC: (FA_POW, True),
}

OPCODE_NAMES = {
    FA_LEAF: "input", FA_EXT: "ext", FA_ELEM: "getitem", FA_LT: "lt", FA_LE: "le", FA_GT: "gt",
    FA_GE: "ge", FA_EQ: "eq", FA_NE: "ne", FA_ADD: "add", FA_SUB: "subtract",
    FA_MUL: "multiply", FA_DIV: "true_divide", FA_POW: "power",
    FA_MAXIMUM: "maximum", FA_MINIMUM: "minimum", FA_ATAN2: "arctan2",
    FA_HYPOT: "hypot", FA_ADDC: "add", FA_RSUBC: "subtract", FA_MULC: "multiply",
    FA_DIVC: "true_divide", FA_RDIVC: "true_divide", FA_POWC: "power",
    FA_RPOWC: "power",
}

OPCODES = {
    "neg": FA_NEG, "abs": FA_ABS, "sign": FA_SIGN, "square": FA_SQUARE,
    "sqrt": FA_SQRT, "cbrt": FA_CBRT, "reciprocal": FA_RECIPROCAL,
    "exp": FA_EXP, "exp2": FA_EXP2, "expm1": FA_EXPM1, "log": FA_LOG,
    "log1p": FA_LOG1P, "log2": FA_LOG2, "log10": FA_LOG10, "sin": FA_SIN,
    "cos": FA_COS, "tan": FA_TAN, "arcsin": FA_ASIN, "arccos": FA_ACOS,
    "arctan": FA_ATAN, "sinh": FA_SINH, "cosh": FA_COSH, "tanh": FA_TANH,
    "arcsinh": FA_ASINH, "arccosh": FA_ACOSH, "arctanh": FA_ATANH,
    "add": FA_ADD, "subtract": FA_SUB, "multiply": FA_MUL,
    "true_divide": FA_DIV, "power": FA_POW, "maximum": FA_MAXIMUM,
    "minimum": FA_MINIMUM, "arctan2": FA_ATAN2, "hypot": FA_HYPOT,
}


for _name, _code in OPCODES.items():
    if _code >= FA_NEG:
        OPCODE_NAMES[_code] = _name


cdef inline object _unary_fast(int opcode, object x):
    if type(x) is Scalar:
        return _unary(opcode, <Scalar>x)
    cdef Primitive prim = <Primitive>_unary_primitives[opcode]
    if type(x) is Array:
        return _record_elementwise(prim, <Array>x, None, None)
    return prim.fun(x)  # plain input: NumPy itself, no dispatch


def negative(x): return _unary_fast(FA_NEG, x)
def absolute(x):
    if type(x) is Scalar:
        return _scalar_abs(<Scalar>x)
    return _unary_fast(FA_ABS, x)


cdef object _scalar_abs(Scalar x):
    if x.tape.kink_guards:
        _scalar_branch(x, 0.0, "abs")
    return _unary(FA_ABS, x)


cdef _scalar_branch(object x, object y, str what):
    """Record where traced scalar x stands against y (above, below or
    equal: two comparisons) as the branch of `what`, for replay to check."""
    cdef Scalar traced = <Scalar>(x if type(x) is Scalar else y)
    cdef object other = y if type(x) is Scalar else x
    cdef int above = FA_GT if type(x) is Scalar else FA_LT
    cdef int below = FA_LT if type(x) is Scalar else FA_GT
    cdef Tape tape = traced.tape
    cdef str label = " (the branch of %s)" % what
    _compare(above, traced, other)
    tape.guard_sources[tape.c.size - 1] += label
    _compare(below, traced, other)
    tape.guard_sources[tape.c.size - 1] += label


cdef inline object _extremum(int opcode, str what, object x, object y):
    # two traced scalars, or one and a number: a scalar result, whose
    # branch is recorded here (arrays record theirs with their primitive)
    if ((type(x) is Scalar and (<Scalar>x).tape.kink_guards
         or type(y) is Scalar and (<Scalar>y).tape.kink_guards)
            and (type(x) is Scalar or _is_real_number(x))
            and (type(y) is Scalar or _is_real_number(y))):
        _scalar_branch(x, y, what)
    return _binary_fast(opcode, x, y)
def sign(x): return _unary_fast(FA_SIGN, x)
def square(x): return _unary_fast(FA_SQUARE, x)
def sqrt(x): return _unary_fast(FA_SQRT, x)
def cbrt(x): return _unary_fast(FA_CBRT, x)
def reciprocal(x): return _unary_fast(FA_RECIPROCAL, x)
def exp(x): return _unary_fast(FA_EXP, x)
def exp2(x): return _unary_fast(FA_EXP2, x)
def expm1(x): return _unary_fast(FA_EXPM1, x)
def log(x): return _unary_fast(FA_LOG, x)
def log1p(x): return _unary_fast(FA_LOG1P, x)
def log2(x): return _unary_fast(FA_LOG2, x)
def log10(x): return _unary_fast(FA_LOG10, x)
def sin(x): return _unary_fast(FA_SIN, x)
def cos(x): return _unary_fast(FA_COS, x)
def tan(x): return _unary_fast(FA_TAN, x)
def arcsin(x): return _unary_fast(FA_ASIN, x)
def arccos(x): return _unary_fast(FA_ACOS, x)
def arctan(x): return _unary_fast(FA_ATAN, x)
def sinh(x): return _unary_fast(FA_SINH, x)
def cosh(x): return _unary_fast(FA_COSH, x)
def tanh(x): return _unary_fast(FA_TANH, x)
def arcsinh(x): return _unary_fast(FA_ASINH, x)
def arccosh(x): return _unary_fast(FA_ACOSH, x)
def arctanh(x): return _unary_fast(FA_ATANH, x)


cdef inline object _scalar_with_constant(int opcode, Scalar x, double c, bint reflected):
    """`opcode` applied to (x, c), or to (c, x) when `reflected`."""
    if opcode == FA_ADD:
        return _with_constant(FA_ADDC, x, c)
    if opcode == FA_MUL:
        return _with_constant(FA_MULC, x, c)
    if opcode == FA_SUB:
        return _with_constant(FA_RSUBC, x, c) if reflected else _with_constant(FA_ADDC, x, -c)
    if opcode == FA_DIV:
        return _with_constant(FA_RDIVC if reflected else FA_DIVC, x, c)
    if opcode == FA_POW:
        if c == 2.0 and not reflected:
            # x ** 2 as x * x (what NumPy does for arrays): one correctly
            # rounded multiplication instead of two calls of pow
            return _unary(FA_SQUARE, x)
        return _with_constant(FA_RPOWC if reflected else FA_POWC, x, c)
    cdef Scalar leaf = x.tape.scalar_leaf(c)
    return _binary(opcode, leaf, x) if reflected else _binary(opcode, x, leaf)


cdef inline object _binary_fast(int opcode, object x, object y):
    if type(x) is Scalar:
        if type(y) is Scalar:
            return _binary(opcode, <Scalar>x, <Scalar>y)
        if _is_real_number(y):
            return _scalar_with_constant(opcode, <Scalar>x, float(y), False)
    elif type(y) is Scalar and _is_real_number(x):
        return _scalar_with_constant(opcode, <Scalar>y, float(x), True)
    cdef Primitive prim = <Primitive>_binary_primitives[opcode]
    if type(x) is Array:
        if type(y) is Array or PyFloat_CheckExact(y):
            return _record_elementwise(prim, <Array>x, y, None)
    elif type(y) is Array and PyFloat_CheckExact(x):
        return _record_elementwise(prim, <Array>y, None, x)
    if (opcode == FA_POW and type(x) is Array and PyLong_CheckExact(y) and y == 2
            and _fusable(<Array>x)):
        fused = _try_fuse(FA_POW, <Array>x, 2.0, None)
        if fused is not None:
            return fused
    if type(x) is Array or type(y) is Array or type(x) is Scalar or type(y) is Scalar:
        return _record(prim, (x, y), {})
    return prim.fun(x, y)  # plain inputs: NumPy itself, no dispatch


def add(x, y): return _binary_fast(FA_ADD, x, y)
def subtract(x, y): return _binary_fast(FA_SUB, x, y)
def multiply(x, y): return _binary_fast(FA_MUL, x, y)
def true_divide(x, y): return _binary_fast(FA_DIV, x, y)
def power(x, y): return _binary_fast(FA_POW, x, y)
def maximum(x, y): return _extremum(FA_MAXIMUM, "maximum", x, y)
def minimum(x, y): return _extremum(FA_MINIMUM, "minimum", x, y)
def arctan2(x, y): return _binary_fast(FA_ATAN2, x, y)
def hypot(x, y): return _binary_fast(FA_HYPOT, x, y)
