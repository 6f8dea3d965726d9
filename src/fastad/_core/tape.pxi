# The tape and its sweeps (included by _tape.pyx).
#
# `Tape` wraps the C tape of csrc/fastad_tape.h (four parallel columns and a
# constant pool) and adds what C cannot hold: `exts`, the side table of
# array and generic operations (Ext records, primitive.pxi), and the source
# arrays whose elements FA_ELEM nodes read.  It records (`scalar_leaf`,
# `array_leaf`, `_push_ext`) and runs every sweep: the reverse sweep
# (`backward`), the forward sweep over k tangent directions (`forward`),
# the Taylor sweep (`taylor`), the reverse sweep of many cotangents at once
# (`backward_many`) and replay at new inputs (`replay`).  Each sweep runs
# the scalar nodes in C with the GIL released between FA_EXT nodes, and
# calls an FA_EXT node's rules (or its C step) at the node itself; adjoint
# and tangent buffers are one C array per sweep, k doubles a node.

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
        self._sweep_lock = NULL  # (made by the first sweep: most tapes of a few nodes have none)
        self._sweeper = 0
        self.exts = []
        self.source_arrays = []
        self.active = True
        self.keep_all = False
        self.guarding = False
        self.kink_guards = False
        self.guard_sources = None

    def __dealloc__(self):
        fa_tape_free(&self.c)
        free(self._needed)
        free(self._tangents)
        if self._sweep_lock != NULL:
            PyThread_free_lock(self._sweep_lock)

    # -- one sweep at a time -------------------------------------------------------
    #
    # A sweep keeps its state on the tape (the adjoints of array nodes in their
    # Ext records, the sources' buffers, replayed primals in the C columns),
    # and releases the GIL over runs of scalar nodes: two sweeps of one tape
    # at once, from two threads, would mix their numbers.  So each sweep holds
    # the tape's lock; a thread waiting for it releases the GIL.  A sweep
    # started from inside a sweep of the same tape, in the same thread (a
    # custom rule calling the vjp function being swept), would free the
    # outer sweep's buffers: it is an error instead.

    cdef int _begin_sweep(self) except -1:
        cdef unsigned long me = PyThread_get_thread_ident()
        if self._sweep_lock == NULL:  # (under the GIL: no other thread makes it meanwhile)
            self._sweep_lock = PyThread_allocate_lock()
            if self._sweep_lock == NULL:
                raise MemoryError("no memory for a tape's lock")
        if not PyThread_acquire_lock(self._sweep_lock, NOWAIT_LOCK):
            if self._sweeper == me:
                raise RuntimeError(
                    "a sweep of a fastad tape was started from inside a sweep of the same "
                    "tape (for example a custom rule calling the vjp or recorded tape it "
                    "belongs to): sweeps of one tape cannot nest. Compute what the rule "
                    "needs outside it, or record it on a tape of its own.")
            with nogil:
                PyThread_acquire_lock(self._sweep_lock, WAIT_LOCK)
        self._sweeper = me
        return 0

    cdef void _end_sweep(self):
        self._sweeper = 0
        PyThread_release_lock(self._sweep_lock)

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
        if not 0 <= k < self.c.n_constants:
            raise IndexError("constant %d is out of range for a tape of %d constants"
                             % (k, self.c.n_constants))
        return self.c.constants[k]

    cdef int _check_node(self, int64_t i) except -1:
        if not 0 <= i < self.c.size:
            raise IndexError("node %d is out of range for a tape of %d nodes" % (i, self.c.size))
        return 0

    def ext(self, int64_t i):
        """The side-table record of an FA_EXT node (None for scalar opcodes)."""
        self._check_node(i)
        return self._ext_of(i)

    def box(self, int64_t i):
        """A traced value for the existing node `i` (no node is recorded):
        how a sweep refers to a primal when it records its own work."""
        self._check_node(i)
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
        self._check_node(i)
        if self.is_scalar(i):
            return _new_scalar(self, i, self.c.primal[i])
        cdef Array out = Array.__new__(Array)
        out.tape = self
        out._node = i
        out._value = value
        return out

    def is_scalar(self, int64_t i):
        self._check_node(i)
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
        self._begin_sweep()
        try:
            return self._backward(seeds, inputs)
        finally:
            self._end_sweep()

    cdef list _backward(self, list seeds, list inputs):
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
        """Forward (tangent) sweep over nodes [start, len): see _forward."""
        self._begin_sweep()
        try:
            return self._forward(start, seeds, outputs, k, batched)
        finally:
            self._end_sweep()

    def _forward(self, int64_t start, list seeds, list outputs, int64_t k, bint batched):
        """Forward (tangent) sweep over nodes [start, len).

        `seeds`: (traced input, tangent) pairs.  With `batched`, `k`
        directions travel at once and every tangent has a leading axis of
        length k (scalar nodes: shape (k,)); otherwise k is 1 and tangents
        have their node's shape.  Returns the tangents of `outputs` (None
        where no seeded input reaches).  Scalar nodes are swept in C."""
        cdef int64_t size = self.c.size
        cdef int64_t i
        cdef double *tangent = _tangent_rows(self, k, start)
        cdef dict array_tangents = {}
        cdef Ext ext
        cdef unsigned char *needed  # (kept by the tape: _tangent_needed)
        try:
            needed = _tangent_needed(self, start, outputs)
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
                if ext.primitive is not None and needed[i - start]:
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
            if tangent != self._tangents:
                free(tangent)
            self._end_source_buffers()

    def taylor(self, int64_t start, list seeds, list outputs, int d, object ext_rule):
        """Propagate truncated Taylor series over nodes [start, len): see _taylor."""
        self._begin_sweep()
        try:
            return self._taylor(start, seeds, outputs, d, ext_rule)
        finally:
            self._end_sweep()

    def _taylor(self, int64_t start, list seeds, list outputs, int d, object ext_rule):
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
        cdef list leaf_tangents
        if prim is _fused_primitive:
            leaf_tangents = [None] * len(ext.args)
            for position, parent in ext.parents:
                leaf_tangents[position] = array_tangents.get(parent)
            for t in leaf_tangents:
                if t is not None:
                    break
            else:
                return None  # no tangent reaches
            found = _tangent_fused(ext, leaf_tangents, k, batched)
            if found is not None:
                return found
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
        if prim.name == "stack" or prim.name == "concatenate":
            total = _tangent_joined(self, ext, tangent, array_tangents, k, batched)
            if total is not NotImplemented:
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
        """Reverse sweep carrying k cotangents of `output` at once: see
        _backward_many."""
        self._begin_sweep()
        try:
            return self._backward_many(output, cotangents, inputs)
        finally:
            self._end_sweep()

    def _backward_many(self, object output, object cotangents, list inputs):
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
                if block is None:  # (no derivative in this argument after all)
                    continue
                block = np.broadcast_to(block, (k,) + tuple(np.broadcast_shapes(np.shape(block)[1:], out_shape)))
            else:
                rows = [rule(g[j], ext.value, *ext.args, **kwargs) for j in range(k)]
                if all(row is None for row in rows):
                    continue
                block = np.stack([np.zeros(self._shape_of(parent)) if row is None else
                                  np.asarray(row) for row in rows])
            self._accumulate_many(adjoint, blocks, k, parent, block)

    cdef _accumulate_many(self, double *adjoint, dict blocks, int64_t k, int64_t node, object block):
        cdef Ext ext = self._ext_of(node)
        cdef int64_t j
        cdef double[::1] rows
        if ext is None or ext.scalar_out:
            rows = np.ascontiguousarray(np.real(np.reshape(block, (k, -1)).sum(axis=1)),
                                        dtype=np.float64)
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
        if block.dtype.kind == "c" and ext.dtype.kind != "c":
            block = block.real  # (a real node's cotangents are real)
        block = np.broadcast_to(block, (k,) + shape).astype(ext.dtype)
        previous = blocks.get(node)
        blocks[node] = block if previous is None else previous + block

    cpdef replay(self, list leaves, list values):
        """Re-evaluate every node at new input values (`leaves`: the input
        nodes' traced values from the recording; `values`: their new values,
        of the same shapes and dtypes).  Scalar nodes run in C with the GIL
        released; array nodes call their NumPy function.  Raises
        RetapeRequired where a recorded decision comes out differently."""
        self._begin_sweep()
        try:
            self._replay(leaves, values)
        finally:
            self._end_sweep()

    cdef _replay(self, list leaves, list values, bint gradient=False):
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
                self._replay_ext(ext, i, gradient)
            i += 1

    def value_and_gradient(self, list leaves, list values, int64_t output):
        """Replay at `values` and sweep from the scalar node `output`
        (cotangent 1): (its value, the leaves' adjoints).  The replayed
        tape's gradient in one call."""
        cdef Scalar box
        cdef double *adjoint
        self._begin_sweep()
        try:
            plan = self._plan_for(leaves)
            if plan is not None:
                (<_Plan>plan).forward(values, True)
                adjoint = self._new_adjoints(1)
                try:
                    adjoint[output] += 1.0
                    (<_Plan>plan).reverse(adjoint)
                    return self.c.primal[output], [(<_Plan>plan).read(k, adjoint)
                                                   for k in range(len(leaves))]
                finally:
                    free(adjoint)
                    self._end_source_buffers()
            self._replay(leaves, values, True)
            box = _new_scalar(self, output, self.c.primal[output])
            return box.value, self._backward([(box, 1.0)], leaves)
        finally:
            self._end_sweep()

    cdef object _plan_for(self, list leaves):
        """The lowered replay of this closed tape for these input leaves
        (plan.pxi), made on first use; None where it has none."""
        if self.active or self.plan is False:
            return None
        if self.plan is None:
            self.plan = _lower(self, leaves) if _LOWERING else None
            if self.plan is None:
                self.plan = False
                return None
        if (<_Plan>self.plan).input_nodes != tuple([leaf.node for leaf in leaves]):
            return None
        return self.plan

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

    cdef _replay_ext(self, Ext ext, int64_t node, bint gradient):
        cdef Primitive prim = <Primitive>ext.primitive
        if prim.name == "stack":
            gathered = _stacked_primals(self, ext)
            if gathered is not None:
                ext.value = gathered
                if ext.source:
                    self._set_source(ext, gathered)
                return
        cdef list args = list(ext.args)
        cdef Ext parent
        for position, parent_node in ext.inputs:
            parent = self._ext_of(parent_node)
            if parent is None or parent.scalar_out:
                args[position] = self.c.primal[parent_node]
            else:
                args[position] = parent.value
        cdef int same = -1
        if prim is _fused_primitive and not ext.guard:
            value = _replay_fused(ext, tuple(args), gradient)
        else:
            if ext.guard and prim.name.startswith("branch of "):
                same = _same_branch(args, ext.value)  # (in one pass, where it applies)
            if same < 0:
                value = prim.fun(*args, **(ext.kwargs or {}))
        if ext.guard:
            if same == 0 or (same < 0 and not _same_value(value, ext.value)):
                raise _guard_flip(prim, ext)
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
            if adjoint[node] == 0.0:
                return  # (not reached, or reached with 0: as the C sweep, see times)
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
                # (the real part: a scalar node is real, and so is its cotangent)
                adjoint[node] += float(np.real(np.sum(cotangent)))
        else:
            ext.add_adjoint(cotangent, fresh)


cdef object _series_row(double *series, int64_t node, int64_t n):
    cdef double *start = series + node * n
    return np.array(<double[:n]>start)


cdef object _row(double *tangent, int64_t node, int64_t k):
    """A copy of the k directions' tangents of a scalar node."""
    cdef double *start = tangent + node * k
    return np.array(<double[:k]>start)
