# The recording sweeps' scalar nodes (included by _tape.pyx).
#
# When an operator runs inside another, its reverse or tangent sweep records
# its work onto the tape (fastad/sweeps.py).  `SweepHandles` holds the
# adjoints (or tangents) of the sweep's scalar nodes as C handles (a node of
# the tape, a plain number, or none) and runs the runs of scalar nodes
# between array nodes through csrc/fastad_record.c, which pushes their
# derivative operations without a Python call per node.  sweeps.py handles
# the nodes the C sweep returns at, reading and writing the same handles.

@cython.final
cdef class SweepHandles:
    """The adjoints or tangents of the scalar nodes [start, end) of a
    recording sweep over `tape`: each None, a plain float, or a traced
    Scalar of the tape."""
    cdef Tape tape
    cdef readonly int64_t start, end
    cdef int64_t top  # the highest node a handle names (-1: none)
    cdef int64_t *handle
    cdef double *plain
    cdef uint8_t *outer  # dry sweeps: the range's nodes depending on one before it

    def __cinit__(self, Tape tape, int64_t start, int64_t end):
        if not 0 <= start <= end <= tape.c.size:
            raise ValueError("nodes [%d, %d) are not a range of a tape of %d nodes"
                             % (start, end, tape.c.size))
        self.tape = tape
        self.start = start
        self.end = end
        self.top = -1
        cdef int64_t n = max(end - start, 1)
        self.handle = <int64_t *>calloc(n, sizeof(int64_t))
        self.plain = <double *>calloc(n, sizeof(double))
        if self.handle == NULL or self.plain == NULL:
            raise MemoryError("no memory for the handles of %d nodes" % (end - start))
        self._clear()

    cdef void _clear(self):
        """No value held for any node: the state of a new sweep."""
        cdef int64_t i
        for i in range(self.end - self.start):
            self.handle[i] = FA_NONE

    def __dealloc__(self):
        free(self.handle)
        free(self.plain)
        free(self.outer)

    def get(self, int64_t node):
        """The value held for `node`: None (none, or outside the range),
        a float, or a traced Scalar."""
        return self._get(node)

    cdef object _get(self, int64_t node):
        if not self.start <= node < self.end:
            return None
        cdef int64_t h = self.handle[node - self.start]
        if h == FA_NONE:
            return None
        if h == FA_PLAIN:
            return self.plain[node - self.start]
        if h < 0:
            raise RuntimeError("node %d's handle was left by a dry sweep" % node)
        self._check_nodes()
        return _new_scalar(self.tape, h, self.tape.c.primal[h])

    cdef int _check_nodes(self) except -1:
        """Every node the handles name is on the tape, before it is read."""
        if self.end > self.tape.c.size or self.top >= self.tape.c.size:
            raise RuntimeError("a sweep over nodes [%d, %d) names node %d of a tape of %d "
                               "nodes" % (self.start, self.end, self.top, self.tape.c.size))
        return 0

    cdef int _check_tape(self) except -1:
        """_check_nodes, and the tape still records (C pushes onto it)."""
        if not self.tape.active:
            raise _stale_error()
        return self._check_nodes()

    def set(self, int64_t node, object value):
        """Hold `value` (a traced Scalar of this tape or a real number; None
        for none) for `node` of the range."""
        if not self.start <= node < self.end:
            raise IndexError("node %d is outside the swept range [%d, %d)"
                             % (node, self.start, self.end))
        cdef int64_t at = node - self.start
        if value is None:
            self.handle[at] = FA_NONE
        elif type(value) is Scalar:
            if (<Scalar>value).tape is not self.tape:
                raise _mixed_error()
            self.handle[at] = (<Scalar>value).node
            self.plain[at] = (<Scalar>value).value
            self.top = max(self.top, (<Scalar>value).node)
        elif _holds_plain(value):
            self.plain[at] = float(value)
            self.handle[at] = FA_PLAIN
        else:
            raise TypeError("a sweep holds a traced Scalar of its tape or a real number for a "
                            "scalar node, not %s" % type(value).__name__)

    cdef void _set_plain(self, int64_t node, double value):
        """Hold the plain number `value` for `node` of the range."""
        self.plain[node - self.start] = value
        self.handle[node - self.start] = FA_PLAIN

    def reverse(self, int64_t stop):
        """Record the reverse sweep of nodes stop - 1, stop - 2, ... down to
        the first node left to Python (returned), or to the range's start
        (start - 1 returned)."""
        if not self.start <= stop <= self.end:
            raise IndexError("stop %d is outside the swept range [%d, %d]"
                             % (stop, self.start, self.end))
        return self._reverse(stop)

    cdef int64_t _reverse(self, int64_t stop) except -3:
        self._check_tape()
        cdef int64_t first_new = self.tape.c.size
        cdef int64_t at = fa_reverse_record(&self.tape.c, self.handle, self.plain,
                                            self.start, stop)
        self._recorded(first_new, at)
        return at

    def reverse_reads(self, int64_t stop, dict elements, object wanted):
        """`reverse`, passing element reads x[i] too: each value held for
        one goes to elements[its array's node] as (i, value), in the order
        met (an array before the range is no one's: dropped), and is
        dropped from the handles unless the node is in `wanted`.  Returns
        the first node left to Python (an array node, a power with a traced
        exponent), or start - 1."""
        if not self.start <= stop <= self.end:
            raise IndexError("stop %d is outside the swept range [%d, %d]"
                             % (stop, self.start, self.end))
        cdef int64_t i = self._reverse(stop)
        cdef int64_t source
        cdef list reads
        while i >= self.start and self.tape.c.opcode[i] == FA_ELEM:
            if self.handle[i - self.start] != FA_NONE:
                value = self._get(i)
                if i not in wanted:
                    self.handle[i - self.start] = FA_NONE
                source = self.tape.c.sources[self.tape.c.operand0[i]].node
                if source >= self.start:
                    reads = elements.get(source)
                    if reads is None:
                        reads = elements[source] = []
                    reads.append((self.tape.c.operand1[i], value))
            i = self._reverse(i)
        return i

    def tangent(self, int64_t first):
        """Record the tangent sweep of nodes first, first + 1, ... up to the
        first node left to Python (returned), or to the range's end."""
        if not self.start <= first <= self.end:
            raise IndexError("node %d is outside the swept range [%d, %d]"
                             % (first, self.start, self.end))
        return self._tangent(first)

    cdef int64_t _tangent(self, int64_t first) except -3:
        self._check_tape()
        cdef int64_t first_new = self.tape.c.size
        cdef int64_t at = fa_tangent_record(&self.tape.c, self.handle, self.plain,
                                            self.start, first, self.end)
        self._recorded(first_new, at)
        return at

    # The dry sweeps (csrc/fastad_record.c): a nested derivative that
    # depends on no node before the range is a plain number
    # (plain_constants), and the nodes a recorded sweep would push for it
    # would be left unread on the tape.  Where the dry sweep finds every
    # wanted handle so, the caller takes its numbers, which are bit for bit
    # the values those nodes would hold; otherwise it clears the handles
    # and records the sweep.  Not under debug_nans, which checks each node
    # a recorded sweep pushes.

    cdef int _depends_before(self) except -1:
        """Fill `outer` for the range, once."""
        cdef int64_t n
        if self.outer == NULL:
            n = max(self.end - self.start, 1)
            self.outer = <uint8_t *>calloc(n, 1)
            if self.outer == NULL:
                raise MemoryError("no memory for the flags of %d nodes" % n)
            fa_depends_before(&self.tape.c, self.outer, self.start, self.end)
        return 0

    cdef bint _reverse_dry(self, int64_t stop) except -1:
        """The reverse sweep down from `stop`, dry: whether it ran."""
        if _debug_nans:
            return False
        self._check_tape()
        self._depends_before()
        return fa_reverse_dry(&self.tape.c, self.handle, self.plain, self.outer, self.start,
                              stop) == 0

    cdef bint _tangent_dry(self, int64_t first) except -1:
        """The tangent sweep up from `first`, dry: whether it ran."""
        if _debug_nans:
            return False
        self._check_tape()
        self._depends_before()
        return fa_tangent_dry(&self.tape.c, self.handle, self.plain, self.outer, self.start,
                              first, self.end) == 0

    cdef object _dry_get(self, int64_t node):
        """After a dry sweep, what plain_constants would give for `node`'s
        recorded value: None (none held), a float, or _NOT_PLAIN (it would
        depend on a node before the range: record the sweep)."""
        if not self.start <= node < self.end:
            return None
        cdef int64_t h = self.handle[node - self.start]
        if h == FA_NONE:
            return None
        if h == FA_PLAIN or h == FA_DRY_INNER:
            return self.plain[node - self.start]
        return _NOT_PLAIN

    cdef list _dry_gets(self, list nodes):
        """_dry_get of every node, or None where one is not plain."""
        cdef list values = []
        cdef int64_t node
        for node in nodes:
            value = self._dry_get(node)
            if value is _NOT_PLAIN:
                return None
            values.append(value)
        return values

    cdef _recorded(self, int64_t first_new, int64_t at):
        """What the recording path does per operation, for the nodes a C
        sweep pushed: the guards' sources, the NaN check, the full tape."""
        cdef Tape tape = self.tape
        cdef int64_t i
        cdef uint8_t op
        self.top = max(self.top, tape.c.size - 1)
        if tape.guarding:
            for i in range(first_new, tape.c.size):
                op = tape.c.opcode[i]
                if FA_LT <= op <= FA_NE:
                    tape.guard_sources[i] = _user_source()
        if _debug_nans:
            for i in range(first_new, tape.c.size):
                _check_nan(tape, i)
        if at == FA_RECORD_FULL:
            raise _tape_full_error()


cdef object _NOT_PLAIN = object()


def dry_reverse(Tape tape, int64_t start, int64_t end, list seeds, list nodes):
    """What sweeps.reverse over a nested recording's nodes [start, end)
    from `seeds` [(traced Scalar output, real cotangent)] and then
    plain_constants give for `nodes`, without recording the sweep, where
    they are all plain numbers (floats, None where no path): the dry sweep
    (SweepHandles).  None where they are not, or the dry sweep cannot say
    (array nodes, element reads, traced exponents, maximum and minimum's
    guards, a seed it does not take): record the sweep."""
    cdef SweepHandles handles = SweepHandles(tape, start, end)
    cdef int64_t node, at
    for output, cotangent in seeds:
        if (type(output) is not Scalar or (<Scalar>output).tape is not tape
                or not _holds_plain(cotangent) or (<Scalar>output).node >= end):
            return None
        cotangent = float(cotangent)
        node = (<Scalar>output).node
        if node < start:
            continue  # (sweeps.reverse drops it)
        at = node - start
        if handles.handle[at] == FA_PLAIN:
            cotangent = handles.plain[at] + <double>cotangent
        handles._set_plain(node, cotangent)
    if not handles._reverse_dry(end):
        return None
    return handles._dry_gets(nodes)


def dry_tangent(Tape tape, int64_t start, int64_t end, list seeds, list outputs):
    """What sweeps.forward over a nested recording's nodes [start, end)
    from `seeds` [(traced Scalar input, real tangent)] and then
    plain_constants give for `outputs`, without recording, where they are
    all plain numbers; None otherwise (as dry_reverse)."""
    for y in outputs:
        if type(y) is not Scalar or (<Scalar>y).tape is not tape:
            return None
    cdef SweepHandles handles = SweepHandles(tape, start, end)
    for x, t in seeds:
        if (type(x) is not Scalar or (<Scalar>x).tape is not tape or not _holds_plain(t)
                or not start <= (<Scalar>x).node < end):
            return None
        handles._set_plain((<Scalar>x).node, float(t))
    if not handles._tangent_dry(start):
        return None
    return handles._dry_gets([(<Scalar>y).node for y in outputs])


def holds_plain(object value):
    """Whether a sweep's handle holds `value` as a plain number (a real
    scalar or 0-d real array); sweeps.py keeps anything else in its dict."""
    return _holds_plain(value)


cdef bint _holds_plain(object value):
    return _is_real_number(value) or (type(value) is _ndarray and (<object>value).ndim == 0
                                      and (<object>value).dtype.kind in "fiub")


cdef _check_nan(Tape tape, int64_t i):
    """debug_nans for a node a C sweep pushed: NaN from operands without."""
    cdef uint8_t op = tape.c.opcode[i]
    cdef double value = tape.c.primal[i]
    if value == value or op == FA_LEAF or op == FA_EXT or op == FA_ELEM:
        return
    cdef double x = tape.c.primal[tape.c.operand0[i]]
    cdef double y
    if FA_ADD <= op <= FA_HYPOT or FA_LT <= op <= FA_NE:
        y = tape.c.primal[tape.c.operand1[i]]
    elif FA_ADDC <= op <= FA_RPOWC:
        y = tape.c.constants[tape.c.operand1[i]]
    else:
        if x == x:
            raise _nan_error(OPCODE_NAMES.get(op, "?"), (x,))
        return
    if x == x and y == y:
        raise _nan_error(OPCODE_NAMES.get(op, "?"), (x, y))
