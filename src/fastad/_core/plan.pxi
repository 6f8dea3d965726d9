# Lowered replay of recorded tapes (included by _tape.pyx after
# fused_run.pxi).  A closed tape whose array nodes all hold float64 values
# is lowered, on its first gradient, to a plan: every array node gets
# buffers of its own for its value and its adjoint, made once and reused by
# every replay, and a step that fills them:
#
#   moves     basic indexing, reshapes, transposes, concatenate and stack:
#             strided copies in C (fa_move_run), added back in reverse
#   fused     elementwise programs (and their sums) run by fastad_fused.c
#             straight on the buffers, their kept values and derivatives in
#             buffers of the plan too; + - * / of arrays as programs of one
#             instruction
#   generic   any other operation: its NumPy function on the buffers (a
#             ufunc writes into the node's buffer) and its rules
#
# (the last two in plan_steps.pxi)
#
# Scalar nodes run in C between them (fa_replay, fa_reverse) as in the
# node-by-node replay.  A plan computes what the node-by-node replay and
# sweep compute, with the same operations in the same order
# (tests/test_plan.py compares them bit for bit), and checks every guard as
# they do.  A tape it cannot lower (complex, integer or boolean array nodes)
# keeps the node-by-node replay.

cdef enum:
    _INPUT = 1   # an input array: its buffer filled from the call's value
    _CONSTANT    # any other array leaf: its recorded value, copied once
    _MOVE        # data movement: moves [first, first + count)
    _FUSED       # a fused program (_FusedStep)
    _GENERIC     # any other operation (_GenericStep)
    _GUARD       # a guarded result, computed again and compared (_GenericStep)

# An operand is a slot (>= 0: an array buffer of the plan) or the scalar
# node -1 - ref (its primal and adjoint are the tape's); _NO_REF: neither.
cdef int64_t _NO_REF = -(1 << 62)

cdef struct _Step:
    int kind
    int32_t slot    # the result's buffer; -1 for a scalar result (the node's primal)
    int32_t source  # 1 + the source index of an array whose elements scalar nodes read
    int32_t first
    int32_t count

#: primitives whose result is a view of their one array operand: lowered to
#: a move where NumPy's result is such a view (getitem: basic indices only)
_VIEWS = frozenset(["getitem", "reshape", "ravel", "squeeze", "expand_dims", "transpose",
                    "swapaxes", "moveaxis", "atleast_1d", "atleast_2d", "atleast_3d"])


try:
    from numpy.lib.array_utils import normalize_axis_index
except ImportError:  # (NumPy 1.x)
    from numpy.core.multiarray import normalize_axis_index


cdef bint _LOWERING = True


def set_lowering(bint enabled):
    """Lower recorded tapes to plans (True, the default) or keep every tape's
    replay node by node (tests compare the two); returns the previous
    setting.  Applies to tapes not lowered yet."""
    global _LOWERING
    previous = _LOWERING
    _LOWERING = enabled
    return previous


class _NotLowered(Exception):
    """A node the plan cannot take: the tape keeps the node-by-node replay."""


@cython.final
cdef class _Plan:
    cdef Tape tape
    cdef _Step *steps           # by side-table index
    cdef fa_move *moves
    cdef int64_t *move_from     # each move's source operand
    cdef int64_t *move_back     # the operand its reverse adds into, or _NO_REF
    cdef char *move_whole       # that operand's every element (its first cotangent is stored)
    cdef int32_t n_slots
    cdef double **values
    cdef double **adjoints      # NULL until first used
    cdef int64_t *sizes
    cdef char *written          # adjoints written in this sweep
    cdef char *owned            # and which of them the node-by-node sweep would
                                # add into in place (Ext.adjoint_owned): the
                                # order it adds a program's cotangents in
    cdef char *constant         # slots without an adjoint
    cdef list value_arrays      # the slots' buffers, in their nodes' shapes
    cdef list adjoint_arrays
    cdef list lazy              # by slot: a first cotangent of a smaller shape, which the
    cdef char *has_lazy         # node-by-node sweep keeps unexpanded (and then gives
                                # elementwise rules as it is), while nothing else is added
    cdef list data              # by side-table index: _FusedStep, _GenericStep or None
    cdef tuple inputs           # the input leaves' operands
    cdef tuple input_nodes      # and nodes (a plan answers for these leaves only)
    cdef double *scratch        # the fused programs' (one at a time)

    def __dealloc__(self):
        free(self.steps)
        free(self.moves)
        free(self.move_from)
        free(self.move_back)
        free(self.move_whole)
        free(self.values)
        free(self.adjoints)
        free(self.sizes)
        free(self.written)
        free(self.owned)
        free(self.has_lazy)
        free(self.constant)
        free(self.scratch)

    cdef inline const double *value_of(self, int64_t ref):
        return self.values[ref] if ref >= 0 else &self.tape.c.primal[-1 - ref]

    cdef object shape_of(self, int64_t ref):
        return (<object>self.value_arrays[ref]).shape if ref >= 0 else ()

    cdef object value_object(self, int64_t ref):
        return self.value_arrays[ref] if ref >= 0 else self.tape.c.primal[-1 - ref]

    cdef double *target(self, int64_t ref, double *adjoint, bint *fresh) except? NULL:
        """Where the operand's adjoint goes; NULL for a constant.  `fresh`:
        nothing was written there yet in this sweep, and the caller, who
        writes every element, stores instead of adding (as the node-by-node
        sweep's first cotangent becomes the adjoint: the same bits, the sign
        of a zero included)."""
        fresh[0] = False
        if ref < 0:
            return adjoint + (-1 - ref)
        if self.constant[ref]:
            return NULL
        if self.adjoints[ref] == NULL:
            self.adjoint_array(ref)
        self.has_lazy[ref] = 0
        if not self.written[ref]:
            self.written[ref] = 1
            fresh[0] = True
        return self.adjoints[ref]

    cdef object adjoint_array(self, int64_t ref):
        """The slot's adjoint buffer (made on first use), as an array."""
        if self.adjoints[ref] == NULL:
            array = np.empty((<object>self.value_arrays[ref]).shape)
            self.adjoint_arrays[ref] = array
            self.adjoints[ref] = <double *>cnp.PyArray_DATA(<cnp.ndarray>array)
        return self.adjoint_arrays[ref]

    cdef double *adjoint_of(self, int64_t ref, double *adjoint) except? NULL:
        """Where the operand's adjoint is added to (zeroed where fresh)."""
        cdef bint fresh
        cdef double *where = self.target(ref, adjoint, &fresh)
        if fresh:
            memset(where, 0, self.sizes[ref] * sizeof(double))
        if ref >= 0 and where != NULL:
            self.owned[ref] = 1  # (zeros of ours, as Ext.add_adjoint_at)
        return where

    cdef inline void wrote(self, int64_t ref, bint fresh, bint owned):
        """Note a write into the operand's adjoint: a first write leaves it
        `owned` or not; any later one makes it ours (Ext.add_adjoint)."""
        if ref >= 0:
            self.owned[ref] = owned if fresh else 1

    cdef add(self, int64_t ref, object cotangent, double *adjoint, bint new=False):
        """Add a rule's cotangent into the operand's adjoint (`new`: an array
        of its own, see _fresh)."""
        if ref < 0:  # (as Tape._accumulate)
            if PyFloat_Check(cotangent):
                adjoint[-1 - ref] += PyFloat_AS_DOUBLE(cotangent)
            else:
                adjoint[-1 - ref] += float(np.real(np.sum(cotangent)))
            return
        cdef bint fresh
        if self.target(ref, adjoint, &fresh) == NULL:
            return
        target = self.adjoint_arrays[ref]
        c = unbroadcast(cotangent, (<object>target).shape, _float64)
        if fresh:
            np.copyto(target, c)
        else:
            np.add(target, c, out=target)
        self.wrote(ref, fresh, (new or c is not cotangent) and type(c) is _ndarray
                   and (<object>c).shape == (<object>target).shape
                   and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>c))
        if fresh and (type(c) is not _ndarray or (<object>c).shape != (<object>target).shape):
            self.lazy[ref] = c
            self.has_lazy[ref] = 1

    cdef forward(self, list values, bint gradient):
        """Replay at `values` (the input leaves', checked by the caller)."""
        cdef Tape tape = self.tape
        cdef fa_tape *c = &tape.c
        cdef int64_t ref, i = 0, size = c.size, flipped = -1
        cdef Py_ssize_t k
        cdef _Step *step
        memset(self.written, 0, self.n_slots)  # (the sweep that follows starts from zero)
        memset(self.has_lazy, 0, self.n_slots)
        for k in range(len(values)):
            ref = <int64_t>self.inputs[k]
            if ref < 0:
                c.primal[-1 - ref] = values[k]
            else:
                np.copyto(self.value_arrays[ref], values[k])
        for k in range(c.n_sources):
            ref = self.steps[c.operand0[c.sources[k].node]].slot
            if ref >= 0:
                c.sources[k].data = self.values[ref]
                tape.source_arrays[k] = self.value_arrays[ref]
        while i < size:
            if c.opcode[i] != FA_EXT:
                with nogil:
                    i = fa_replay(c, i, size, &flipped)
                if flipped >= 0:
                    raise tape._flip_error(flipped)
                if i >= size:
                    break
            step = &self.steps[c.operand0[i]]
            if step.kind == _MOVE:
                for k in range(step.first, step.first + step.count):
                    fa_move_run(&self.moves[k], self.values[step.slot],
                                self.value_of(self.move_from[k]), 0)
            elif step.kind == _FUSED:
                (<_FusedStep>self.data[c.operand0[i]]).forward(self, i, step.slot, gradient)
            elif step.kind == _GENERIC or step.kind == _GUARD:
                (<_GenericStep>self.data[c.operand0[i]]).forward(self, i, step.slot)
            if step.slot < 0 and step.kind != _GUARD:
                # (a scalar result's record follows its primal, as in the
                # node-by-node replay: a pickled tape is checked for that)
                (<Ext>tape.exts[c.operand0[i]]).value = c.primal[i]
            i += 1

    cdef reverse(self, double *adjoint):
        """The reverse sweep after a forward, from the scalar adjoints the
        caller seeded."""
        cdef Tape tape = self.tape
        cdef fa_tape *c = &tape.c
        cdef int64_t i = c.size - 1, j, n
        cdef Py_ssize_t k
        cdef _Step *step
        cdef double *target
        cdef const double *source
        cdef bint fresh
        while i >= 0:
            if c.opcode[i] != FA_EXT:
                with nogil:
                    i = fa_reverse(c, adjoint, 0, i + 1)
                if i < 0:
                    break
            step = &self.steps[c.operand0[i]]
            if step.source and step.slot >= 0 and not self.constant[step.slot]:
                # every element read of this array lies above it: its
                # adjoint is complete (as Tape._reverse_ext)
                target = self.target(step.slot, adjoint, &fresh)
                source = c.source_adjoint + c.sources[step.source - 1].offset
                n = c.sources[step.source - 1].size
                if fresh:
                    memcpy(target, source, n * sizeof(double))
                else:
                    for j in range(n):
                        target[j] += source[j]
                self.wrote(step.slot, fresh, False)
            if step.kind <= _CONSTANT or step.kind == _GUARD:
                pass
            elif step.slot >= 0 and not self.written[step.slot]:
                pass  # (no adjoint reached it)
            elif step.slot < 0 and adjoint[i] == 0.0:
                pass  # (as the node-by-node sweep: see Tape._reverse_ext)
            elif step.kind == _MOVE:
                for k in range(step.first, step.first + step.count):
                    if self.move_back[k] == _NO_REF:
                        continue
                    if self.move_whole[k]:
                        # (the rule's cotangent is a view of g: not ours)
                        target = self.target(self.move_back[k], adjoint, &fresh)
                        self.wrote(self.move_back[k], fresh, False)
                    else:
                        target = self.adjoint_of(self.move_back[k], adjoint)
                        fresh = False
                    fa_move_back(&self.moves[k], target, self.adjoints[step.slot], not fresh)
            elif step.kind == _FUSED:
                (<_FusedStep>self.data[c.operand0[i]]).reverse(self, i, step.slot, adjoint)
            else:
                (<_GenericStep>self.data[c.operand0[i]]).reverse(self, i, step.slot, adjoint)
            i -= 1

    cdef object read(self, Py_ssize_t k, double *adjoint):
        """The adjoint of input leaf k after the sweep (a new array)."""
        cdef int64_t ref = <int64_t>self.inputs[k]
        if ref < 0:
            return adjoint[-1 - ref]
        if not self.written[ref]:
            return np.zeros((<object>self.value_arrays[ref]).shape)
        return (<object>self.adjoint_arrays[ref]).copy()


# -- lowering ----------------------------------------------------------------

cdef class _Lowering:
    """What the lowering gathers before the plan is packed."""
    cdef Tape tape
    cdef dict slot_of        # array node -> slot
    cdef list arrays         # slot -> buffer
    cdef list constant       # slot -> bool
    cdef list moves          # (to block, from operand, back operand, from block, whole)
    cdef dict slices         # node of a contiguous basic slice -> (base slot, offset)

    cdef int64_t operand(self, int64_t node) except? -2:
        """A traced node's operand."""
        cdef Ext ext = self.tape._ext_of(node)
        if ext is None or ext.scalar_out:
            return -1 - node
        if node not in self.slot_of:
            raise _NotLowered("an operand without a buffer")
        return <int64_t>self.slot_of[node]

    cdef int32_t new_slot(self, object array, bint constant):
        self.arrays.append(array)
        self.constant.append(constant)
        return len(self.arrays) - 1

    cdef int32_t constant_slot(self, object value):
        return self.new_slot(np.array(value, dtype=np.float64, order="C"), True)

    cdef object shape_of(self, int64_t ref):
        return (<object>self.arrays[ref]).shape if ref >= 0 else ()


cdef object _block(object view, object base):
    """(offset, shape, strides) of `view` inside the float64 buffer `base`,
    in elements; None where it is no such view (or repeats an element)."""
    if type(view) is not _ndarray or view.dtype != _float64 or view.ndim > FA_MOVE_DIMS:
        return None
    if view.size > 1 and 0 in view.strides:
        return None
    if view.size and not np.shares_memory(view, base):
        return None
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    if offset % 8 or any(s % 8 for s in view.strides):
        return None
    return offset // 8, view.shape, tuple(s // 8 for s in view.strides)


cdef tuple _dense(tuple shape):
    """The block of a C-contiguous array of `shape`."""
    cdef list strides = []
    cdef int64_t step = 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return 0, shape, tuple(reversed(strides))


cdef list _lower_moves(_Lowering low, Primitive prim, Ext ext, int32_t slot):
    """The moves of a data-movement node, or None for another node."""
    cdef str name = prim.name
    out = low.arrays[slot]
    cdef list moves = []
    cdef set differentiable = set([position for position, _ in ext.parents])
    cdef int64_t ref
    if name in _VIEWS:
        if len(ext.inputs) != 1 or ext.inputs[0][0] != 0:
            return None
        if name == "getitem" and not _is_basic_index(ext.args[1]):
            return None
        ref = low.operand(ext.inputs[0][1])
        if ref < 0:
            return None
        base = low.arrays[ref]
        view = prim.fun(base, *ext.args[1:], **(ext.kwargs or {}))
        block = _block(view, base)
        if block is None or view.shape != out.shape:
            return None
        # (getitem's reverse adds into zeros, as Ext.add_adjoint_at; the
        # others' rules give the whole cotangent, which the sweep stores)
        moves.append((_dense(out.shape), ref, ref if 0 in differentiable else _NO_REF, block,
                      name != "getitem" and view.size == base.size))
        if (name == "getitem" and view.flags.c_contiguous and 0 in differentiable
                and not low.constant[ref]):
            low.slices[slot] = (ref, block[0])
        return moves
    if name != "concatenate" and name != "stack" or ext.kwargs:
        return None
    axis = ext.args[0]
    cdef dict traced = dict(ext.inputs)
    cdef Py_ssize_t start = 0, position
    for position in range(1, len(ext.args)):
        if position in traced:
            ref = low.operand(traced[position])
        else:
            ref = low.constant_slot(ext.args[position])
        shape = low.shape_of(ref)
        if name == "stack":
            region = out[(slice(None),) * normalize_axis_index(axis, out.ndim) + (position - 1,)]
        elif axis is None:
            size = _size_of(shape)
            region = out.reshape(-1)[start:start + size].reshape(shape)
            start += size
        else:
            if len(shape) != out.ndim:
                return None
            ax = normalize_axis_index(axis, out.ndim)
            region = out[(slice(None),) * ax + (slice(start, start + shape[ax]),)]
            start += shape[ax]
        block = _block(region, out)
        if block is None or region.shape != shape:
            return None
        back = ref if position in differentiable and (ref < 0 or not low.constant[ref]) else _NO_REF
        moves.append((block, ref, back, _dense(shape), True))
    return moves


cdef _Plan _lower(Tape tape, list leaves):
    """The plan of the closed tape `tape` for the input leaves `leaves`, or
    None where a node cannot be lowered."""
    cdef _Lowering low = _Lowering.__new__(_Lowering)
    low.tape, low.slot_of, low.arrays, low.constant, low.moves = tape, {}, [], [], []
    low.slices = {}

    cdef _Plan plan = _Plan.__new__(_Plan)
    plan.tape = tape
    cdef Py_ssize_t n_ext = len(tape.exts)
    plan.steps = <_Step *>calloc(n_ext if n_ext else 1, sizeof(_Step))
    if plan.steps == NULL:
        raise MemoryError("no memory to lower a tape")
    plan.data = [None] * n_ext
    cdef set inputs = set([(<Array>leaf).node for leaf in leaves if type(leaf) is Array])
    cdef int64_t i
    cdef int32_t index
    cdef Ext ext
    cdef _Step *step
    cdef Primitive prim
    cdef list moves
    try:
        for i in range(tape.c.size):
            if tape.c.opcode[i] != FA_EXT:
                continue
            index = tape.c.operand0[i]
            ext = <Ext>tape.exts[index]
            step = &plan.steps[index]
            step.source = ext.source
            step.slot = -1
            if ext.primitive is not None and ext.guard:
                step.kind = _GUARD
                plan.data[index] = _GenericStep.make(low, ext)
                continue
            if ext.scalar_out:
                if ext.primitive is None or not PyFloat_Check(ext.value):
                    return None
            else:
                value = ext.value
                if type(value) is not _ndarray or value.dtype != _float64:
                    return None  # (complex, integer or boolean arrays)
                step.slot = low.new_slot(np.empty(value.shape), False)
                low.slot_of[i] = step.slot
            if ext.primitive is None:
                if i in inputs:
                    step.kind = _INPUT
                else:
                    step.kind = _CONSTANT
                    np.copyto(low.arrays[step.slot], ext.value)
                    low.constant[step.slot] = True
                continue
            prim = <Primitive>ext.primitive
            if prim is _fused_primitive:
                fused = _FusedStep.make(low, ext)
                if fused is not None:
                    step.kind = _FUSED
                    plan.data[index] = fused
                    continue
            fused = _FusedStep.single(low, ext)
            if fused is not None:
                step.kind = _FUSED
                plan.data[index] = fused
                continue
            moves = _lower_moves(low, prim, ext, step.slot) if step.slot >= 0 else None
            if moves is not None:
                step.kind = _MOVE
                step.first = len(low.moves)
                step.count = len(moves)
                low.moves.extend(moves)
                continue
            step.kind = _GENERIC
            plan.data[index] = _GenericStep.make(low, ext)
        plan.inputs = tuple([low.operand(leaf.node) for leaf in leaves])
    except _NotLowered:
        return None
    plan.input_nodes = tuple([leaf.node for leaf in leaves])
    cdef int64_t scratch = 1
    for entry in plan.data:
        if type(entry) is _FusedStep and (<_FusedStep>entry).scratch_size > scratch:
            scratch = (<_FusedStep>entry).scratch_size
    plan.scratch = <double *>calloc(scratch, sizeof(double))
    if plan.scratch == NULL:
        raise MemoryError("no memory to lower a tape")
    _pack(plan, low)
    return plan


cdef _pack(_Plan plan, _Lowering low):
    """The gathered slots and moves into the plan's C arrays."""
    cdef Py_ssize_t n = len(low.arrays), m = len(low.moves), k, d
    plan.n_slots = <int32_t>n
    plan.value_arrays = low.arrays
    plan.adjoint_arrays = [None] * n
    plan.values = <double **>calloc(n + 1, sizeof(double *))
    plan.adjoints = <double **>calloc(n + 1, sizeof(double *))
    plan.sizes = <int64_t *>calloc(n + 1, sizeof(int64_t))
    plan.written = <char *>calloc(n + 1, 1)
    plan.owned = <char *>calloc(n + 1, 1)
    plan.has_lazy = <char *>calloc(n + 1, 1)
    plan.lazy = [None] * n
    plan.constant = <char *>calloc(n + 1, 1)
    plan.moves = <fa_move *>calloc(m + 1, sizeof(fa_move))
    plan.move_from = <int64_t *>calloc(m + 1, sizeof(int64_t))
    plan.move_back = <int64_t *>calloc(m + 1, sizeof(int64_t))
    plan.move_whole = <char *>calloc(m + 1, 1)
    if (plan.values == NULL or plan.adjoints == NULL or plan.sizes == NULL
            or plan.written == NULL or plan.owned == NULL or plan.has_lazy == NULL or plan.constant == NULL or plan.moves == NULL
            or plan.move_from == NULL or plan.move_back == NULL or plan.move_whole == NULL):
        raise MemoryError("no memory to lower a tape")
    for k in range(n):
        plan.values[k] = <double *>cnp.PyArray_DATA(<cnp.ndarray>low.arrays[k])
        plan.sizes[k] = cnp.PyArray_SIZE(<cnp.ndarray>low.arrays[k])
        plan.constant[k] = low.constant[k]
    cdef fa_move *move
    for k in range(m):
        to_block, plan.move_from[k], plan.move_back[k], from_block, whole = low.moves[k]
        plan.move_whole[k] = whole
        move = &plan.moves[k]
        move.ndim = len(to_block[1])
        move.to_offset, move.from_offset = to_block[0], from_block[0]
        for d in range(move.ndim):
            move.shape[d] = to_block[1][d]
            move.to_strides[d] = to_block[2][d]
            move.from_strides[d] = from_block[2][d]
        fa_move_simplify(move)
