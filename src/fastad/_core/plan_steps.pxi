# The steps of a plan that call out of plain C (included by _tape.pyx after
# plan.pxi): fused programs over the plan's buffers (_FusedStep, including
# single arithmetic operations run as programs of one instruction) and any
# other operation through its function and rules (_GenericStep).  Each
# reverse step writes the adjoints as the node-by-node sweep's step for the
# same node writes them (see _Plan.owned and _Plan.lazy).

@cython.final
cdef class _FusedStep:
    """A fused program over the plan's buffers."""
    cdef _Code packed
    cdef tuple program
    cdef tuple shape
    cdef int32_t n_leaves
    cdef int64_t n
    cdef bint total
    cdef int64_t *refs
    cdef int64_t *adjoint_refs   # where each leaf's adjoint is added: its own, or the
    cdef int64_t *offsets        # array it is a contiguous slice of, at an offset
    cdef char *wanted            # leaves whose adjoints the sweep adds into
    cdef const double **leaf_values
    cdef double **leaf_adjoints
    cdef int *accumulate         # per leaf and sweep: add (1) or store (0)
    cdef char *shared            # a leaf whose adjoint another leaf adds into too
    cdef double **kept           # a program's kept function values (or NULL)
    cdef double **grads          # a sum's derivatives by leaf (or NULL: swept instead)
    cdef bint have_grads         # grads hold the last evaluation's
    cdef int64_t scratch_size    # doubles of scratch it needs (the plan's, shared)
    cdef list owners             # the arrays behind kept and grads
    cdef list temporaries        # by leaf: a buffer for a cotangent formed apart (or None)
    cdef char *owns              # by leaf: whether its adjoint, first written here, is
                                 # one the node-by-node sweep owns (see _Plan.owned)
    cdef _GenericStep fallback   # (one operation: its generic step, for an unexpanded
                                 # cotangent, which its rules take as it is)

    def __dealloc__(self):
        free(self.refs)
        free(self.adjoint_refs)
        free(self.offsets)
        free(self.wanted)
        free(<void *>self.leaf_values)
        free(self.leaf_adjoints)
        free(self.accumulate)
        free(self.shared)
        free(self.owns)
        free(self.kept)
        free(self.grads)

    @staticmethod
    cdef _FusedStep make(_Lowering low, Ext ext):
        """The step of a fused node, or None."""
        if not ext.args:
            return None
        return _FusedStep.build(low, ext.args, ext.kwargs["program"], _code_of(ext),
                                ext.inputs, ext.parents, ext.scalar_out, True)

    @staticmethod
    cdef _FusedStep single(_Lowering low, Ext ext):
        """An arithmetic operation (+ - * /) on arrays of its result's shape
        or with a float, as a program of one instruction, or None.  (Its
        reverse step then computes what the operation's C step or rules
        compute: the same expressions, and a cotangent added to an adjoint
        that is not its own formed apart first, as a rule's is.)"""
        cdef Primitive prim = <Primitive>ext.primitive
        if (ext.scalar_out or ext.kwargs or len(ext.args) != 2
                or not FA_ADD <= prim.opcode <= FA_DIV or prim.opcode == FA_POW):
            return None
        cdef dict traced = dict(ext.inputs)
        if len(traced) == 2 and traced[0] == traced[1]:
            return None  # (x * x: the rules add the two cotangents in another order)
        shape = (<object>ext.value).shape
        cdef list leaves = []
        cdef dict leaf_of = {}  # argument position -> leaf (register) number
        cdef int opcode = prim.opcode
        cdef double c = 0.0
        for position in range(2):
            arg = ext.args[position]
            if position not in traced:
                if PyFloat_CheckExact(arg):
                    c = PyFloat_AS_DOUBLE(arg)
                    continue
                if type(arg) is not _ndarray or (<object>arg).shape != shape or (
                        (<object>arg).dtype != _float64):
                    return None
            else:
                parent = low.tape._ext_of(traced[position])
                if parent is None or (<Ext>parent).scalar_out or (<Ext>parent).shape != shape:
                    return None  # (a traced scalar, or broadcasting)
            leaf_of[position] = len(leaves)
            leaves.append(arg)
        if not leaf_of:
            return None
        if len(leaf_of) == 2:
            program = ((opcode, 0, 1, 0.0),)
        elif 0 in leaf_of:  # x op c
            if opcode == FA_SUB:
                opcode, c = FA_ADDC, -c  # (x - c rounds as x + (-c))
            else:
                opcode = {FA_ADD: FA_ADDC, FA_MUL: FA_MULC, FA_DIV: FA_DIVC}[opcode]
            program = ((opcode, 0, None, c),)
        else:  # c op x
            opcode = {FA_ADD: FA_ADDC, FA_SUB: FA_RSUBC, FA_MUL: FA_MULC,
                      FA_DIV: FA_RDIVC}[opcode]
            program = ((opcode, 0, None, c),)
        cdef tuple inputs = tuple([(leaf_of[position], node) for position, node in ext.inputs])
        cdef tuple parents = tuple([(leaf_of[position], node)
                                    for position, node in ext.parents])
        cdef _FusedStep step = _FusedStep.build(low, tuple(leaves), program,
                                                _packed(program, len(leaves)), inputs,
                                                parents, False, False)
        if step is None:
            return None
        step.fallback = _GenericStep.make(low, ext)
        if step.fallback.fixed is None:
            return None
        if len(parents) == 2:
            # (two parents: the rules run, and an adjoint they write first is
            # owned where the rule's result is a new array: not g itself)
            step.owns[0] = prim.opcode != FA_ADD and prim.opcode != FA_SUB
            step.owns[1] = prim.opcode != FA_ADD
        return step

    @staticmethod
    cdef _FusedStep build(_Lowering low, tuple leaves, tuple program, _Code packed,
                          tuple inputs, tuple parents, bint total, bint slices):
        cdef _FusedStep s = _FusedStep.__new__(_FusedStep)
        s.n_leaves = <int32_t>len(leaves)
        s.packed = packed
        s.program = program
        s.total = total
        s.shape = np.shape(leaves[0])
        s.n = _size_of(s.shape)
        s.refs = <int64_t *>calloc(s.n_leaves, sizeof(int64_t))
        s.adjoint_refs = <int64_t *>calloc(s.n_leaves, sizeof(int64_t))
        s.offsets = <int64_t *>calloc(s.n_leaves, sizeof(int64_t))
        s.wanted = <char *>calloc(s.n_leaves, 1)
        s.leaf_values = <const double **>calloc(s.n_leaves, sizeof(double *))
        s.leaf_adjoints = <double **>calloc(s.n_leaves, sizeof(double *))
        s.accumulate = <int *>calloc(s.n_leaves, sizeof(int))
        s.shared = <char *>calloc(s.n_leaves, 1)
        s.owns = <char *>calloc(s.n_leaves, 1)
        s.scratch_size = fa_fused_scratch(s.packed.n_code, s.n_leaves, 1)
        if (s.refs == NULL or s.adjoint_refs == NULL or s.offsets == NULL or s.wanted == NULL or s.leaf_values == NULL
                or s.leaf_adjoints == NULL or s.accumulate == NULL or s.shared == NULL
                or s.owns == NULL):
            raise MemoryError("no memory to lower a fused program")
        cdef dict traced = dict(inputs)
        cdef set differentiable = set([position for position, _ in parents])
        cdef Py_ssize_t k, j
        cdef int64_t ref
        for k in range(s.n_leaves):
            if k in traced:
                ref = low.operand(traced[k])
            else:
                ref = low.constant_slot(leaves[k])
            if ref < 0 or _size_of(low.shape_of(ref)) != s.n:
                # (a leaf that is no array: the node-by-node sweep runs the
                # fused rule, and so does a generic step)
                return None
            s.refs[k] = ref
            s.adjoint_refs[k] = ref
            if slices and ref in low.slices:
                # (as _slice_adjoint: the slice's cotangent goes straight into
                # its array's adjoint, in the order the node-by-node sweep adds)
                s.adjoint_refs[k], s.offsets[k] = low.slices[ref]
            s.wanted[k] = k in differentiable and (ref < 0 or not low.constant[ref])
            s.owns[k] = 1
        for k in range(s.n_leaves):
            for j in range(s.n_leaves):
                if j != k and s.adjoint_refs[j] == s.adjoint_refs[k]:
                    s.shared[k] = True
        s.owners = []
        cdef int32_t n_code = s.packed.n_code
        if not s.total:
            for j in range(n_code):
                if _costly(s.packed.code[j].op):
                    if s.kept == NULL:
                        s.kept = <double **>calloc(n_code, sizeof(double *))
                        if s.kept == NULL:
                            raise MemoryError("no memory to lower a fused program")
                    array = np.empty(s.n)
                    s.owners.append(array)
                    s.kept[j] = <double *>cnp.PyArray_DATA(<cnp.ndarray>array)
        elif s.n * len(parents) * 8 <= _LOCAL_MAX_BYTES:  # (as _local_fits)
            s.grads = <double **>calloc(s.n_leaves, sizeof(double *))
            if s.grads == NULL:
                raise MemoryError("no memory to lower a fused program")
            for position, _ in parents:
                array = np.empty(s.n)
                s.owners.append(array)
                s.grads[position] = <double *>cnp.PyArray_DATA(<cnp.ndarray>array)
        return s

    cdef list leaf_arrays(self, _Plan plan):
        return [plan.value_object(self.refs[k]) for k in range(self.n_leaves)]

    cdef forward(self, _Plan plan, int64_t node, int32_t slot, bint gradient):
        cdef Py_ssize_t k
        for k in range(self.n_leaves):
            self.leaf_values[k] = plan.value_of(self.refs[k])
        cdef int status
        cdef double total = 0.0
        cdef int64_t chunk = 0
        cdef double **grads = self.grads if gradient else NULL
        if self.total:
            if not _NUMPY_SUMS_IN_ONE_PIECE:
                chunk = np.getbufsize()
            with nogil:
                if grads != NULL:
                    status = fa_fused_sum_grad(self.packed.code, self.packed.n_code,
                                               self.n_leaves, self.leaf_values, self.n, chunk,
                                               &total, grads, plan.scratch)
                else:
                    status = fa_fused_sum(self.packed.code, self.packed.n_code, self.n_leaves,
                                          self.leaf_values, self.n, chunk, &total,
                                          plan.scratch)
            plan.tape.c.primal[node] = total
        else:
            with nogil:
                status = fa_fused_eval(self.packed.code, self.packed.n_code, self.n_leaves,
                                       self.leaf_values, self.n, plan.values[slot], self.kept,
                                       plan.scratch)
        if status < 0:
            raise ValueError("a fused program holds an invalid instruction")
        self.have_grads = grads != NULL
        if status > 0 and _reported(status):
            # NumPy's evaluation, with its warnings or errors (as _run)
            value = _numpy_eval(self.program, self.leaf_arrays(plan), self.shape, self.total)
            self.have_grads = False
            if self.total:
                plan.tape.c.primal[node] = value
            else:
                np.copyto(plan.value_arrays[slot], value)

    cdef reverse(self, _Plan plan, int64_t node, int32_t slot, double *adjoint):
        if self.fallback is not None and plan.has_lazy[slot]:
            self.fallback.reverse_alone(plan, node, slot, adjoint)
            return
        cdef Py_ssize_t k, e
        cdef bint fresh
        cdef int64_t ref
        for k in range(self.n_leaves):
            self.leaf_values[k] = plan.value_of(self.refs[k])
            self.leaf_adjoints[k] = NULL
            self.accumulate[k] = 1
            if not self.wanted[k]:
                continue
            ref = self.adjoint_refs[k]
            if ref != self.refs[k] or self.shared[k]:
                # (a slice's cotangent added into its array's adjoint, as
                # _slice_adjoint; or two leaves of one node)
                self.leaf_adjoints[k] = plan.adjoint_of(ref, adjoint) + self.offsets[k]
            else:
                self.leaf_adjoints[k] = plan.target(ref, adjoint, &fresh)
                self.accumulate[k] = not fresh
                if not fresh and not plan.owned[ref] and not self.total:
                    # (as _reverse_fused: the program's cotangent formed
                    # apart, then added to an adjoint that is not its own)
                    self.leaf_adjoints[k] = self.apart(k)
                    self.accumulate[k] = 0
                plan.owned[ref] = self.owns[k] if fresh else 1
        cdef double g
        cdef double *dest
        cdef const double *src
        cdef int status = 0
        if self.total:
            g = adjoint[node]
            if self.have_grads:  # (as _reverse_local)
                for k in range(self.n_leaves):
                    dest, src = self.leaf_adjoints[k], self.grads[k]
                    if dest == NULL or src == NULL:
                        continue
                    if not self.accumulate[k] and g == 1.0:
                        memcpy(dest, src, self.n * sizeof(double))
                    elif not self.accumulate[k]:
                        for e in range(self.n):
                            dest[e] = src[e] * g
                    elif g == 1.0:
                        for e in range(self.n):
                            dest[e] += src[e]
                    else:
                        for e in range(self.n):
                            dest[e] += g * src[e]
            else:
                with nogil:
                    status = fa_fused_sum_vjp(self.packed.code, self.packed.n_code,
                                              self.n_leaves, self.leaf_values, self.n, g,
                                              self.leaf_adjoints, self.accumulate, NULL,
                                              plan.scratch)
        else:
            with nogil:
                status = fa_fused_vjp(self.packed.code, self.packed.n_code, self.n_leaves,
                                      self.leaf_values, self.n, plan.adjoints[slot], 0.0,
                                      self.leaf_adjoints, self.accumulate, self.kept,
                                      plan.scratch)
        if status < 0:
            raise ValueError("a fused program holds an invalid instruction")
        for k in range(self.n_leaves):
            if self.leaf_adjoints[k] != NULL and self.leaf_adjoints[k] == self.temporary(k):
                dest, src = plan.adjoints[self.refs[k]], self.leaf_adjoints[k]
                for e in range(self.n):
                    dest[e] = dest[e] + src[e]

    cdef double *apart(self, Py_ssize_t k) except NULL:
        """A buffer for leaf k's cotangent formed apart."""
        if self.temporaries is None:
            self.temporaries = [None] * self.n_leaves
        if self.temporaries[k] is None:
            self.temporaries[k] = np.empty(self.n)
        return <double *>cnp.PyArray_DATA(<cnp.ndarray>self.temporaries[k])

    cdef inline double *temporary(self, Py_ssize_t k):
        if self.temporaries is None or self.temporaries[k] is None:
            return NULL
        return <double *>cnp.PyArray_DATA(<cnp.ndarray>self.temporaries[k])


@cython.final
cdef class _GenericStep:
    """Any other operation: its function called on the plan's buffers, its
    rules in reverse (as Tape._replay_ext and Tape._reverse_ext)."""
    cdef Primitive prim
    cdef Ext ext
    cdef dict kwargs
    cdef tuple template   # the recorded arguments (constants stay)
    cdef list refs        # (position, operand) of every traced argument
    cdef list parents     # (position, operand) of the differentiable ones
    cdef object args      # the last replay's arguments
    cdef tuple fixed      # the arguments, where every traced one is a buffer (else None)
    cdef bint c_step      # the reverse may take a C step (see _c_step)
    cdef bint ufunc       # the function is a ufunc, called with out= the buffer
    cdef bint branch      # a guard of the branch of a piecewise function

    @staticmethod
    cdef _GenericStep make(_Lowering low, Ext ext):
        cdef _GenericStep s = _GenericStep.__new__(_GenericStep)
        s.prim = <Primitive>ext.primitive
        s.ext = ext
        s.kwargs = ext.kwargs or {}
        s.template = ext.args
        s.refs = [(position, low.operand(node)) for position, node in ext.inputs]
        s.parents = [(position, low.operand(node)) for position, node in ext.parents]
        s.c_step = (s.prim.opcode >= FA_ADD and not ext.scalar_out and len(s.parents) == 1
                    and s.parents[0][1] >= 0 and not low.constant[s.parents[0][1]])
        s.ufunc = (type(s.prim.fun) is np.ufunc and not s.kwargs and s.prim.fun.nout == 1
                   and not ext.scalar_out and not ext.guard)
        s.branch = s.prim.name.startswith("branch of ")
        if all([ref >= 0 for _, ref in s.refs]):
            args = list(s.template)
            for position, ref in s.refs:
                args[position] = low.arrays[ref]
            s.fixed = tuple(args)
        return s

    cdef forward(self, _Plan plan, int64_t node, int32_t slot):
        cdef object args = self.fixed
        if args is None:
            args = list(self.template)
            for position, ref in self.refs:
                args[position] = plan.value_object(ref)
        self.args = args
        cdef Ext ext = self.ext
        cdef int same = -1
        if ext.guard:
            if self.branch:
                same = _same_branch(list(args), ext.value)
            if same < 0:
                value = self.prim.fun(*args, **self.kwargs)
            if same == 0 or (same < 0 and not _same_value(value, ext.value)):
                raise _guard_flip(self.prim, ext)
            return
        if self.ufunc:
            self.prim.fun(*args, out=plan.value_arrays[slot])
        else:
            value = self.prim.fun(*args, **self.kwargs)
        if slot >= 0:
            if not self.ufunc:
                np.copyto(plan.value_arrays[slot], value)
            if self.c_step and (self.fixed is None or ext.value is not plan.value_arrays[slot]):
                # (the record the C step of the reverse reads, see _c_step)
                ext.args = tuple(args)
                ext.value = plan.value_arrays[slot]
        else:
            plan.tape.c.primal[node] = float(value)

    cdef reverse_alone(self, _Plan plan, int64_t node, int32_t slot, double *adjoint):
        """The reverse step of an operation whose forward another step ran
        (its arguments all buffers: see _FusedStep.single)."""
        self.args = self.fixed
        if self.c_step and self.ext.value is not plan.value_arrays[slot]:
            self.ext.args = self.fixed
            self.ext.value = plan.value_arrays[slot]
        self.reverse(plan, node, slot, adjoint)

    cdef reverse(self, _Plan plan, int64_t node, int32_t slot, double *adjoint):
        cdef Primitive prim = self.prim
        cdef bint lazy = False
        if slot >= 0:
            g, ans = plan.adjoint_arrays[slot], plan.value_arrays[slot]
            if plan.has_lazy[slot] and prim.elementwise:
                # (as Tape._reverse_ext: an elementwise rule gets the
                # cotangent unexpanded, or broadcast for an operand of
                # another shape)
                g, lazy = plan.lazy[slot], True
        else:
            g, ans = adjoint[node], plan.tape.c.primal[node]
        cdef int64_t ref
        cdef bint fresh
        if self.c_step and not lazy:
            # (as Tape._reverse_unary_fast: the same C step as the trace's)
            ref = self.parents[0][1]
            fresh = not plan.written[ref]
            if ((fresh or plan.owned[ref])
                    and _c_step(self.ext, prim.opcode, g, plan.adjoint_array(ref), fresh)
                    is not None):
                plan.written[ref] = 1
                plan.owned[ref] = 1
                plan.has_lazy[ref] = 0
                return
        for position, ref in self.parents:
            if prim is _getitem_primitive and ref >= 0:
                # (as Ext.add_adjoint_at: repeated indices add in turn)
                plan.adjoint_of(ref, adjoint)
                np.add.at(plan.adjoint_arrays[ref], self.args[1], g)
                continue
            g_parent = g
            if lazy and plan.shape_of(ref) != (<object>ans).shape:
                g_parent = np.broadcast_to(g, (<object>ans).shape)
            if position < len(prim.vjps):
                cotangent = prim.vjps[position](g_parent, ans, *self.args, **self.kwargs)
            else:
                cotangent = prim.vjp_variadic(position, g_parent, ans, *self.args, **self.kwargs)
            if cotangent is not None:
                plan.add(ref, cotangent, adjoint,
                         _new_result(prim, cotangent, g_parent, g, ans, self.args))

