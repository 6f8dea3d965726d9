# The pickled form of tapes (included by _tape.pyx).
#
# `Tape.__reduce__`, `Ext.__reduce__` and `Primitive.__reduce__` write
# the C columns as bytes, the side table as Ext records and primitives by
# their op-table name; the loaders below rebuild them.  A pickle can come
# from anywhere, and the sweeps index, cast and size from what it holds
# without a check of their own (they must stay as fast as on a tape just
# recorded).  So the loader checks everything a sweep will dereference or
# size from, once, before any C code touches it, and refuses a corrupt
# pickle with a ValueError naming the field:
#
#   - the C columns: lengths, opcodes, operands before their node and of the
#     right kind (a scalar operation reads scalar nodes, never an array or a
#     guard), constants and element reads inside their pools, unused
#     operands zero, comparisons' outcomes 0 or 1;
#   - every side-table record, in node order (`_checked_ext`): an Ext, of a
#     primitive of the op table (or none: an input leaf), its parents and
#     inputs earlier nodes of the kinds the arguments' values say, at
#     positions its arguments hold and its primitive differentiates, its
#     shape and dtype those of its value, the leaves and program of a fused
#     node (at most the recording's own _FUSE_MAX_LENGTH instructions);
#   - the sources of element reads: an array node's, float64, of its size,
#     below every element read of it; guard_sources: comparison nodes to text;
#   - a boxed value (`_rebuild_box`): a node of its tape that a value can be.
#
# The loaded tape holds its own copies of the records, so that objects a
# pickle shares between two tapes (or two nodes) are never shared by the
# sweeps.  Valid data that differs from what was written (a flipped
# constant) no check can tell: a recorded tape's digest refuses it
# (recorded.py); this writer has none.  Pickle itself can run code: this
# guards against corrupt and inconsistent data, not a malicious pickle.

#: version of the tape's pickled form, checked on load
TAPE_FORMAT = 2

# what a node holds, for the checks of the nodes that read it
cdef enum:
    _K_SCALAR = 0      # a scalar value: input, operation, element read, scalar Ext
    _K_ARRAY = 1       # an array Ext (input leaf or operation)
    _K_GUARD = 2       # a guard: a checked result, never an operand
    _K_COMPARISON = 3  # a comparison's outcome, never an operand

#: NumPy's limit on dimensions
cdef int _MAX_DIMS = 64


cdef object _corrupt(str field, str problem):
    return ValueError("a pickled fastad tape is corrupt: %s %s" % (field, problem))


cdef object _corrupt_at(int64_t node, str column, str problem):
    return ValueError("a pickled fastad tape is corrupt at node %d: %s[%d] %s"
                      % (node, column, node, problem))


cdef str _what(object x):
    text = repr(x)
    if len(text) > 60:
        text = text[:57] + "..."
    return "%s %s" % (type(x).__name__, text)


cdef inline bint _is_int(object x):
    return type(x) is int  # (not bool, not a NumPy integer: what the writer writes)


def _rebuild_tape(version, opcode, operand0, operand1, primal, constants, exts, active,
                  keep_all, guarding, guard_sources, source_nodes=(), source_arrays=()):
    if version != TAPE_FORMAT:
        raise ValueError(
            "this fastad tape was pickled in format %r, but this fastad (%s) reads format %d; "
            "record it again with this version" % (version, _version(), TAPE_FORMAT))
    for name, column in (("opcode", opcode), ("operand0", operand0), ("operand1", operand1),
                         ("primal", primal), ("constants", constants)):
        if type(column) is not bytes:
            raise _corrupt(name, "is %s, not bytes" % type(column).__name__)
    cdef int64_t n = len(opcode)
    if len(operand0) != 4 * n or len(operand1) != 4 * n or len(primal) != 8 * n:
        raise _corrupt("the C columns", "have different lengths (%d opcodes, %d and %d operand "
                       "bytes, %d primal bytes)" % (n, len(operand0), len(operand1), len(primal)))
    if n > fa_max_nodes:
        raise _corrupt("opcode", "holds %d nodes, more than a tape may (%d)" % (n, fa_max_nodes))
    if len(constants) % 8:
        raise _corrupt("constants", "holds %d bytes, not whole float64 values" % len(constants))
    cdef int64_t m = len(constants) // 8
    if m > 2147483647:
        raise _corrupt("constants", "holds %d values, more than a tape may" % m)
    for name, flag in (("active", active), ("keep_all", keep_all), ("guarding", guarding)):
        if type(flag) is not bool:
            raise _corrupt(name, "is %s, not a bool" % _what(flag))
    if type(exts) is not list:
        raise _corrupt("exts", "is %s, not a list" % type(exts).__name__)
    if type(source_nodes) not in (list, tuple) or type(source_arrays) not in (list, tuple):
        raise _corrupt("source_nodes", "or source_arrays is not a list")
    if len(source_nodes) != len(source_arrays):
        raise _corrupt("source_nodes", "lists %d sources, but source_arrays holds %d arrays"
                       % (len(source_nodes), len(source_arrays)))
    cdef int64_t n_sources = len(source_nodes)
    cdef const uint8_t[:] ops = opcode
    cdef const int32_t[:] a0 = np.frombuffer(operand0, dtype=np.int32)
    cdef const int32_t[:] a1 = np.frombuffer(operand1, dtype=np.int32)
    cdef const double[:] values = np.frombuffer(primal, dtype=np.float64)
    cdef const double[:] consts = np.frombuffer(constants, dtype=np.float64)
    cdef bytearray kind_bytes = bytearray(n)
    cdef unsigned char[:] kinds = kind_bytes
    cdef list records = []  # the tape's own copies of the Ext records, checked
    cdef set seen = set()
    cdef int64_t i, a, b, n_exts = 0
    cdef int op
    cdef Ext ext
    # 1. the nodes, in order: each refers only to what exists and may be read
    for i in range(n):
        op = ops[i]
        a = a0[i]
        b = a1[i]
        if op >= FA_N_OPCODES:
            raise _corrupt_at(i, "opcode", "is %d, not an opcode" % op)
        if op == FA_LEAF:
            if a != 0 or b != 0:
                raise _corrupt_at(i, "operand0", "or operand1[%d] of an input is %d, %d, not 0"
                                  % (i, a, b))
            kinds[i] = _K_SCALAR
        elif op == FA_EXT:
            if a != n_exts or b != 0:
                raise _corrupt_at(i, "operand0", "is %d (operand1 %d): node %d is the record "
                                  "exts[%d], operand1 0" % (a, b, i, n_exts))
            if n_exts >= len(exts):
                raise _corrupt("exts", "holds %d records, but node %d is a record too"
                               % (len(exts), i))
            if id(exts[n_exts]) in seen:
                raise _corrupt("exts[%d]" % n_exts, "is the record of an earlier node too")
            seen.add(id(exts[n_exts]))
            ext = _checked_ext(exts[n_exts], "exts[%d] (node %d)" % (n_exts, i), i, values[i],
                               kinds, records, a0)
            records.append(ext)
            kinds[i] = (_K_GUARD if ext.guard else _K_SCALAR if ext.scalar_out else _K_ARRAY)
            n_exts += 1
        elif op == FA_ELEM:
            # (the source and element are checked with the sources below)
            if not (0 <= a < n_sources and b >= 0):
                raise _corrupt_at(i, "operand0", "reads element %d of source %d, and there "
                                  "are %d sources" % (b, a, n_sources))
            kinds[i] = _K_SCALAR
        else:
            if not 0 <= a < i:
                raise _corrupt_at(i, "operand0", "is %d, not an earlier node" % a)
            if kinds[a] != _K_SCALAR:
                raise _corrupt_at(i, "operand0", "is node %d, which holds %s, not a scalar"
                                  % (a, _KIND_NAMES[kinds[a]]))
            if FA_ADDC <= op <= FA_RPOWC:
                if not 0 <= b < m:
                    raise _corrupt_at(i, "operand1", "is %d, not one of the %d constants" % (b, m))
            elif op >= FA_NEG:
                if b != 0:
                    raise _corrupt_at(i, "operand1", "of a unary operation is %d, not 0" % b)
            else:
                if not 0 <= b < i:
                    raise _corrupt_at(i, "operand1", "is %d, not an earlier node" % b)
                if kinds[b] != _K_SCALAR:
                    raise _corrupt_at(i, "operand1", "is node %d, which holds %s, not a scalar"
                                      % (b, _KIND_NAMES[kinds[b]]))
            if FA_LT <= op <= FA_NE:
                if values[i] != 0.0 and values[i] != 1.0:
                    raise _corrupt_at(i, "primal", "is %r, not a comparison's outcome (0 or 1)"
                                      % values[i])
                kinds[i] = _K_COMPARISON
            else:
                kinds[i] = _K_SCALAR
    if n_exts != len(exts):
        raise _corrupt("exts", "holds %d records for %d record nodes" % (len(exts), n_exts))
    # 2. the sources of element reads
    cdef list arrays = []
    cdef dict slot_of = {}
    cdef int64_t node, size
    for k in range(n_sources):
        node_object = source_nodes[k]
        if not _is_int(node_object) or not 0 <= node_object < n:
            raise _corrupt("source_nodes[%d]" % k, "is %s, not a node of the tape"
                           % _what(node_object))
        node = node_object
        if kinds[node] != _K_ARRAY:
            raise _corrupt("source_nodes[%d]" % k, "is node %d, which holds %s, not an array"
                           % (node, _KIND_NAMES[kinds[node]]))
        if node in slot_of:
            raise _corrupt("source_nodes[%d]" % k, "is node %d, already source %d"
                           % (node, slot_of[node]))
        slot_of[node] = k
        ext = <Ext>records[a0[node]]
        data = source_arrays[k]
        size = _size_of(ext.shape)
        if not (isinstance(data, _ndarray) and (<object>data).dtype == _float64
                and (<object>data).size == size):
            raise _corrupt("source_arrays[%d]" % k, "is %s, not the %d float64 elements of node %d"
                           % (_describe_array(data), size, node))
        if ext.dtype != _float64 or size > 2147483647:  # (element indices are 32-bit)
            raise _corrupt("source_nodes[%d]" % k, "is node %d, of %d elements of %s: not an "
                           "array whose elements a tape reads" % (node, size, ext.dtype))
        arrays.append(np.require(data, _float64, ["C", "A"]))
    for i in range(n):
        if ops[i] == FA_ELEM:
            node = source_nodes[a0[i]]
            if node >= i:
                raise _corrupt_at(i, "operand0", "reads source %d (node %d), which is not an "
                                  "earlier node" % (a0[i], node))
            if a1[i] >= (<object>arrays[a0[i]]).size:
                raise _corrupt_at(i, "operand1", "reads element %d of an array of %d"
                                  % (a1[i], (<object>arrays[a0[i]]).size))
    # 3. what the tape's Python side holds
    if guard_sources is not None:
        if type(guard_sources) is not dict:
            raise _corrupt("guard_sources", "is %s, not a dict" % type(guard_sources).__name__)
        for key, text in guard_sources.items():
            if not (_is_int(key) and 0 <= key < n and kinds[key] == _K_COMPARISON):
                raise _corrupt("guard_sources", "names %s, not a comparison node" % _what(key))
            if type(text) is not str:
                raise _corrupt("guard_sources[%d]" % key, "is %s, not text" % _what(text))
    # everything checked: build the tape
    cdef Tape tape = Tape()
    for i in range(n):
        if fa_push(&tape.c, ops[i], a0[i], a1[i], values[i]) < 0:
            raise _tape_full_error()
    for i in range(m):
        if fa_push_constant(&tape.c, consts[i]) < 0:
            raise _tape_full_error()
    tape.exts = records
    cdef const double[::1] view
    for k in range(n_sources):
        data = arrays[k]
        view = data.reshape(-1)
        if fa_push_source(&tape.c, source_nodes[k], &view[0] if view.shape[0] else NULL,
                          view.shape[0]) < 0:
            raise _tape_full_error()
        tape.source_arrays.append(data)
        (<Ext>records[a0[source_nodes[k]]]).source = <int>(k + 1)
    tape.active = active
    tape.keep_all = keep_all
    tape.guarding = guarding
    tape.guard_sources = dict(guard_sources) if guard_sources is not None else None
    return tape


_KIND_NAMES = {_K_SCALAR: "a scalar", _K_ARRAY: "an array", _K_GUARD: "a guard",
               _K_COMPARISON: "a comparison's outcome"}


cdef str _describe_array(object a):
    if isinstance(a, _ndarray):
        return "an array of %d elements of %s" % ((<object>a).size, (<object>a).dtype)
    return _what(a)


cdef tuple _checked_shape(str field, object shape):
    if type(shape) is not tuple or len(<tuple>shape) > _MAX_DIMS:
        raise _corrupt(field + ".shape", "is %s, not a shape" % _what(shape))
    for d in <tuple>shape:
        if not _is_int(d) or d < 0:
            raise _corrupt(field + ".shape", "is %s, not a shape" % _what(shape))
    return shape


cdef tuple _checked_pairs(str field, object pairs):
    """A tuple of (position, node) pairs of ints, positions increasing."""
    if type(pairs) is not tuple:
        raise _corrupt(field, "is %s, not a tuple" % _what(pairs))
    previous = -1
    for pair in <tuple>pairs:
        if not (type(pair) is tuple and len(<tuple>pair) == 2 and _is_int(pair[0])
                and _is_int(pair[1]) and previous < pair[0] <= 2147483647
                and 0 <= pair[1] <= 2147483647):
            raise _corrupt(field, "holds %s, not (position, node) pairs of increasing "
                           "positions" % _what(pair))
        previous = pair[0]
    return pairs


cdef object _canonical(object dtype):
    """NumPy's own instance of a built-in dtype (an unpickled dtype is a copy,
    which the sweeps' `is` tests would not recognize)."""
    if dtype.isnative and dtype.kind in "fiub" and not dtype.metadata:
        same = np.dtype(dtype.type)
        if same == dtype:
            return same
    return dtype


def _rebuild_ext(primitive, args, kwargs, parents, inputs, value, scalar_out, shape, dtype,
                 guard, where):
    """An Ext record from its fields, whose types are checked here; its
    contents are checked against its tape's nodes by _rebuild_tape."""
    cdef Ext ext = Ext.__new__(Ext)
    _set_fields(ext, "Ext", primitive, args, kwargs, parents, inputs, value, scalar_out, shape,
                dtype, guard, where)
    return ext


cdef _set_fields(Ext ext, str field, primitive, args, kwargs, parents, inputs, value, scalar_out,
                 shape, dtype, guard, where):
    if primitive is not None and not (type(primitive) is Primitive and
                                      REGISTRY.get((<Primitive>primitive).name) is primitive):
        raise _corrupt(field + ".primitive", "is %s, not a primitive of fastad's op table"
                       % _what(primitive))
    if type(args) is not tuple:
        raise _corrupt(field + ".args", "is %s, not a tuple" % _what(args))
    if kwargs is not None:
        if type(kwargs) is not dict:
            raise _corrupt(field + ".kwargs", "is %s, not a dict" % _what(kwargs))
        for key in kwargs:
            if type(key) is not str:
                raise _corrupt(field + ".kwargs", "has the key %s, not a name" % _what(key))
    for name, flag in (("scalar_out", scalar_out), ("guard", guard)):
        if type(flag) is not bool:
            raise _corrupt(field + "." + name, "is %s, not a bool" % _what(flag))
    if where is not None and type(where) is not str:
        raise _corrupt(field + ".where", "is %s, not text" % _what(where))
    if not isinstance(dtype, np.dtype):
        raise _corrupt(field + ".dtype", "is %s, not a NumPy dtype" % _what(dtype))
    ext.primitive = primitive
    ext.args = args
    ext.kwargs = kwargs
    ext.parents = _checked_pairs(field + ".parents", parents)
    ext.inputs = _checked_pairs(field + ".inputs", inputs)
    ext.value = value
    ext.scalar_out = scalar_out
    ext.shape = _checked_shape(field, shape)
    ext.dtype = _canonical(dtype)
    ext.guard = guard
    ext.where = where


cdef Ext _checked_ext(object record, str field, int64_t node, double primal,
                      unsigned char[:] kinds, list records, const int32_t[:] a0):
    """A copy of the side-table record of node `node`, checked against its
    primal and the nodes before it (their `kinds`, and the checked
    `records` of those that are Exts); ValueError naming the field that is
    wrong."""
    if type(record) is not Ext:
        raise _corrupt(field, "is %s, not an Ext record" % _what(record))
    cdef Ext given = <Ext>record
    cdef Ext ext = Ext.__new__(Ext)
    # (a record the pickle built without _rebuild_ext has fields of any type)
    _set_fields(ext, field, given.primitive, given.args, given.kwargs, given.parents,
                given.inputs, given.value, given.scalar_out, given.shape, given.dtype,
                given.guard, given.where)
    cdef Primitive prim = <Primitive>ext.primitive if ext.primitive is not None else None
    cdef object value = ext.value
    cdef Py_ssize_t n_args = len(ext.args)
    # the value, and the shape and dtype the sweeps allocate by
    if prim is None:
        if ext.guard or ext.scalar_out or ext.args or ext.kwargs is not None or ext.parents \
                or ext.inputs or ext.where is not None:
            raise _corrupt(field, "is an input leaf (no primitive) with the fields of an "
                           "operation")
    elif ext.guard:
        if ext.scalar_out or ext.parents or not ext.inputs:
            raise _corrupt(field, "is a guard with parents, a scalar output or no inputs")
        if ext.where is None:
            raise _corrupt(field + ".where", "of a guard is None")
        try:
            value_shape = tuple(np.shape(value))
        except Exception:
            raise _corrupt(field + ".value", "of a guard is %s, which has no shape" % _what(value))
        if value_shape != ext.shape:
            raise _corrupt(field + ".shape", "is %s, but the guard's value has shape %s"
                           % (ext.shape, value_shape))
    else:
        if not ext.parents:
            raise _corrupt(field + ".parents", "of an operation is empty")
        if ext.where is not None:
            raise _corrupt(field + ".where", "is set on an operation that is not a guard")
    if ext.scalar_out:
        if type(value) is not float:
            raise _corrupt(field + ".value", "of a scalar output is %s, not a float"
                           % _what(value))
        if ext.shape != () or ext.dtype != _float64:
            raise _corrupt(field + ".shape", "or dtype of a scalar output is %s, %s"
                           % (ext.shape, ext.dtype))
        if not (primal == value or (primal != primal and value != value)):
            raise _corrupt_at(node, "primal", "is %r, but its record's value is %r"
                              % (primal, value))
    elif not ext.guard:
        if not (isinstance(value, _ndarray) and (<object>value).dtype.kind == "f"):
            raise _corrupt(field + ".value", "is %s, not a float array" % _describe_array(value))
        # (checked before anything allocates by the shape: the value is real memory)
        if (<object>value).shape != ext.shape:
            raise _corrupt(field + ".shape", "is %s, but the value has shape %s"
                           % (_what(ext.shape), (<object>value).shape))
        if (<object>value).dtype != ext.dtype:
            raise _corrupt(field + ".dtype", "is %s, but the value is %s"
                           % (ext.dtype, (<object>value).dtype))
        if primal != 0.0:
            raise _corrupt_at(node, "primal", "of an array node is %r, not 0" % primal)
    elif primal != 0.0:
        raise _corrupt_at(node, "primal", "of a guard is %r, not 0" % primal)
    # the operands: earlier nodes whose values the arguments hold
    cdef set input_pairs = set(ext.inputs)
    cdef int64_t position, parent
    for position, parent in ext.inputs:
        if position >= n_args:
            raise _corrupt(field + ".inputs", "holds position %d, and the record has %d "
                           "arguments" % (position, n_args))
        if parent >= node:
            raise _corrupt(field + ".inputs", "holds node %d, not one before node %d"
                           % (parent, node))
        argument = ext.args[position]
        if kinds[parent] == _K_SCALAR:
            if type(argument) is not float:
                raise _corrupt(field + ".args[%d]" % position, "is %s, but node %d is a scalar"
                               % (_what(argument), parent))
        elif kinds[parent] != _K_ARRAY:
            raise _corrupt(field + ".inputs", "holds node %d, which holds %s, not a value"
                           % (parent, _KIND_NAMES[kinds[parent]]))
        else:
            source = <Ext>records[a0[parent]]
            if not (isinstance(argument, _ndarray) and (<object>argument).shape == source.shape
                    and (<object>argument).dtype == source.dtype):
                raise _corrupt(field + ".args[%d]" % position, "is %s, but node %d is an array "
                               "of shape %s and %s" % (_describe_array(argument), parent,
                                                       source.shape, source.dtype))
    for position, parent in ext.parents:
        if parent >= node:
            raise _corrupt(field + ".parents", "holds node %d, not one before node %d"
                           % (parent, node))
        if (position, parent) not in input_pairs:
            raise _corrupt(field + ".parents", "holds (%d, %d), which is not among its inputs"
                           % (position, parent))
        if not prim._differentiable_in(position):
            raise _corrupt(field + ".parents", "holds position %d, in which %s has no "
                           "derivative" % (position, prim.name))
    if prim is _getitem_primitive and not ext.guard:
        if len(ext.parents) != 1 or ext.parents[0][0] != 0 or kinds[ext.parents[0][1]] != _K_ARRAY:
            raise _corrupt(field + ".parents", "of an indexing operation is %s, not an array "
                           "at position 0" % (ext.parents,))
    if prim is _fused_primitive and not ext.guard:
        _check_fused(ext, field)
    return ext


cdef _check_fused(Ext ext, str field):
    """A fused node: its program (bounded as the recording bounds it, then
    checked by fa_fused_check) over float64 leaf arrays of one shape."""
    kwargs = ext.kwargs
    if not (kwargs is not None and "program" in kwargs
            and set(kwargs) <= {"program", "total"} and kwargs.get("total", True) is True):
        raise _corrupt(field + ".kwargs", "of a fused program is %s" % _what(kwargs))
    program = kwargs["program"]
    cdef bint total = "total" in kwargs
    if type(program) is not tuple or not 0 < len(<tuple>program) <= _FUSE_MAX_LENGTH:
        raise _corrupt(field + ".kwargs['program']", "is not a tuple of 1 to %d instructions"
                       % _FUSE_MAX_LENGTH)
    for instruction in <tuple>program:
        if not (type(instruction) is tuple and len(<tuple>instruction) == 4
                and _is_int(instruction[0]) and _is_int(instruction[1])
                and (instruction[2] is None or _is_int(instruction[2]))
                and type(instruction[3]) is float):
            raise _corrupt(field + ".kwargs['program']", "holds %s, not an instruction"
                           % _what(instruction))
    cdef Py_ssize_t n_leaves = len(ext.args)
    positions = [p for p, _ in ext.parents]
    if (ext.parents != ext.inputs or not positions or positions != sorted(set(positions))
            or positions[0] < 0 or positions[-1] >= n_leaves):
        # (the traced leaves, in order; the others are constant arrays)
        raise _corrupt(field + ".parents", "of a fused program are not among its %d leaves"
                       % n_leaves)
    try:
        _packed(program, <int>n_leaves)
    except ValueError as error:
        raise _corrupt(field + ".kwargs['program']", "is invalid (%s)" % error)
    leaf_shape = None
    for k in range(n_leaves):
        leaf = ext.args[k]
        if not isinstance(leaf, _ndarray):
            raise _corrupt(field + ".args[%d]" % k, "is %s, not a leaf array" % _what(leaf))
        if (<object>leaf).dtype != _float64:
            raise _corrupt(field + ".args[%d]" % k, "is a leaf of %s, not float64"
                           % (<object>leaf).dtype)
        if leaf_shape is None:
            leaf_shape = (<object>leaf).shape
        elif (<object>leaf).shape != leaf_shape:
            raise _corrupt(field + ".args[%d]" % k, "has shape %s, and leaf 0 %s"
                           % ((<object>leaf).shape, leaf_shape))
    if total != ext.scalar_out or ext.dtype != _float64 or (not total and ext.shape != leaf_shape):
        raise _corrupt(field + ".shape", "of a fused program is %s (dtype %s, scalar %s), but "
                       "its leaves have shape %s"
                       % (ext.shape, ext.dtype, ext.scalar_out, leaf_shape))


def _version():
    from ._version import __version__
    return __version__


def _primitive_by_name(name):
    if type(name) is not str or name not in REGISTRY:
        raise _corrupt("a primitive's name", "is %s, not in fastad's op table" % _what(name))
    return REGISTRY[name]


def _rebuild_box(tape, node):
    """The traced value of node `node` of `tape` (the tape's own checks have run)."""
    if type(tape) is not Tape:
        raise _corrupt("a traced value's tape", "is %s, not a tape" % _what(tape))
    cdef Tape t = <Tape>tape
    if not (_is_int(node) and 0 <= node < t.c.size):
        raise _corrupt("a traced value's node", "is %s, not one of the tape's %d nodes"
                       % (_what(node), t.c.size))
    cdef int op = t.c.opcode[<int64_t>node]
    if FA_LT <= op <= FA_NE or (op == FA_EXT and t._ext_of(node).guard):
        raise _corrupt("a traced value's node", "is node %d, which holds no value" % node)
    return t.box(node)
