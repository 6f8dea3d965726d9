# The pickled form of tapes (included by _tape.pyx).
#
# `Tape.__reduce__`, `Ext.__reduce__` and `Primitive.__reduce__` write
# the C columns as bytes, the side table as Ext records and primitives by
# their op-table name; the loaders below rebuild them.  A pickle can come
# from anywhere, so the loader checks every C column before the sweeps may
# read it (`_valid_node`: operands before their node, indices inside the
# constant pool, the side table and the sources), and refuses a format
# version it does not read.

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
    return REGISTRY[name]


def _rebuild_box(Tape tape, int64_t node):
    return tape.box(node)
