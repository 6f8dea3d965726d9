"""Sparsity patterns of Jacobians and Hessians, found on a recorded tape,
and sparse derivatives by compressed sweeps.

A pattern is propagated node by node over the tape recorded at `x`: each
node holds, as the rows of a boolean sparse matrix (one row per element of
the node), the input elements it depends on.  Scalar nodes take the union
of their operands' rows (nothing for comparisons and `sign`); an element
read `x[i]` takes row i of its array.  Array nodes follow their op's
structure: elementwise ops (with broadcasting, and fused programs) take the
union of their operands' matching elements; ops that only move elements
(indexing, reshapes, transposes, concatenate, stack, broadcast_to ...) are
evaluated on the elements' indices to find where each one goes; ops with
no derivative depend on nothing.  Any other op makes each of its output
elements depend on every element of its operands: a pattern may hold more
than the exact one, never less.  The Hessian's pattern is the Jacobian
pattern of the recorded gradient.

The pattern holds for inputs that replay the recorded tape without a
guard flipping (the same branches).  Sparse derivatives come from one
forward sweep per colour of a greedy distance-2 column colouring (columns
sharing no row get one colour), decompressed into `scipy.sparse.coo_array`
whose coordinates are the pattern's, explicit zeros included.
"""
import numpy as np

from . import _tape
from .ops import REGISTRY

LEAF, EXT, ELEM = 0, 1, _tape.ELEM_OPCODE

#: ops whose outputs are their inputs' elements moved: evaluated on indices
_MOVES = {"getitem", "reshape", "transpose", "concatenate", "stack", "broadcast_to",
          "moveaxis", "swapaxes", "squeeze", "expand_dims", "ravel", "atleast_1d"}


def _sparse():
    try:
        import scipy.sparse
    except ImportError:
        raise ImportError("fastad's sparse derivatives are scipy.sparse arrays: install SciPy "
                          "(pip install scipy)") from None
    return scipy.sparse


def tape_pattern(tape, inputs, output):
    """The boolean CSR pattern (output elements x input elements) of the
    recorded tape `tape` (a fastad._tape.Tape) from the traced `inputs` to
    the traced `output`."""
    sp = _sparse()
    sizes = [int(np.prod(np.shape(box), dtype=np.int64)) for box in inputs]
    n = sum(sizes)
    rows = {}
    offset = 0
    for box, size in zip(inputs, sizes):
        rows[box.node] = sp.csr_array((np.ones(size, bool), np.arange(offset, offset + size),
                                       np.arange(size + 1)), shape=(size, n))
        offset += size
    start = min(rows) if rows else 0
    for i in range(start, output.node + 1):
        if i in rows:
            continue
        opcode, a, b, _ = tape.raw(i)
        if opcode == LEAF or _tape.FIRST_COMPARISON <= opcode <= _tape.LAST_COMPARISON:
            continue
        if opcode == EXT:
            found = _ext_pattern(tape, i, rows, n)
        elif opcode == ELEM:
            node, shape = tape.source(a)
            found = rows[node][[b]] if node in rows else None
        else:
            parts = [rows.get(a)]
            if _tape.FIRST_BINARY <= opcode <= _tape.LAST_BINARY:
                parts.append(rows.get(b))
            parts = [p for p in parts if p is not None]
            found = _union(parts) if parts and opcode != _SIGN else None
        if found is not None:
            rows[i] = found
    result = rows.get(output.node)
    size = int(np.prod(np.shape(output), dtype=np.int64))
    if result is None:
        return sp.csr_array((size, n), dtype=bool)
    return result


_SIGN = REGISTRY["sign"].opcode if "sign" in REGISTRY else -1


def _union(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out.astype(bool)


def _ext_pattern(tape, node, rows, n):
    sp = _sparse()
    ext = tape.ext(node)
    prim = ext.primitive
    if prim is None:
        return None
    parents = [(position, parent) for position, parent in ext.parents if parent in rows]
    if not parents:
        return None
    out_shape = () if ext.scalar_out else tuple(ext.shape)
    out_size = int(np.prod(out_shape, dtype=np.int64))
    if prim.vjps is None and prim.vjp_variadic is None:
        return None  # (no derivative: integer-valued or constant)
    if prim.elementwise:
        total = (ext.kwargs or {}).get("total", False)
        parts = []
        for position, parent in parents:
            arg_shape = np.shape(ext.args[position])
            size = int(np.prod(arg_shape, dtype=np.int64))
            if total:
                parts.append(_dense_rows(rows[parent], out_size))
                continue
            ids = np.broadcast_to(np.arange(size).reshape(arg_shape), out_shape).reshape(-1)
            parts.append(rows[parent][ids])
        return _union(parts)
    if prim.name == "untake" and [position for position, _ in parents] == [0]:
        # (the transpose of indexing: element j of the values goes to
        # position j of the indexed positions, added where they repeat)
        values, index, shape = ext.args[0], ext.args[1], ext.args[2]
        try:
            positions = np.arange(out_size).reshape(shape)[index]
            positions = np.broadcast_to(positions, np.shape(values)).reshape(-1)
        except Exception:
            positions = None
        if positions is not None:
            scatter = sp.csr_array((np.ones(positions.size, bool),
                                    (positions, np.arange(positions.size))),
                                   shape=(out_size, positions.size))
            return (scatter @ rows[parents[0][1]]).astype(bool)
    if prim.name in _MOVES:
        args = list(ext.args)
        offsets, stacked = {}, []
        base = 0
        for k, arg in enumerate(args):
            if isinstance(arg, np.ndarray) or type(arg) in (float, np.float64):
                shape = np.shape(arg)
                if any(position == k for position, _ in parents):
                    size = int(np.prod(shape, dtype=np.int64))
                    args[k] = (base + np.arange(size, dtype=np.float64)).reshape(shape)
                    offsets[k] = base
                    base += size
                else:
                    args[k] = np.full(shape, np.nan)
        try:
            moved = np.asarray(prim.fun(*args, **(ext.kwargs or {})), np.float64).reshape(-1)
        except Exception:
            moved = None
        if moved is not None and moved.size == out_size:
            stacked = sp.vstack([rows[parent] for position, parent in
                                 sorted(parents, key=lambda p: offsets[p[0]])], format="csr")
            valid = ~np.isnan(moved)
            ids = moved[valid].astype(np.int64)
            picked = stacked[ids]
            # rows of constant elements (NaN ids) depend on nothing
            selector = sp.csr_array((np.ones(valid.sum(), bool),
                                     (np.flatnonzero(valid), np.arange(valid.sum()))),
                                    shape=(out_size, valid.sum()))
            return (selector @ picked).astype(bool)
    # any other op: every output element on every element of its operands
    return _union([_dense_rows(rows[parent], out_size) for _, parent in parents])


def _dense_rows(pattern, out_size):
    """`out_size` rows, each the union of `pattern`'s rows."""
    sp = _sparse()
    columns = np.unique(pattern.indices)
    return sp.csr_array((np.ones(out_size * len(columns), bool),
                         np.tile(columns, out_size),
                         np.arange(0, out_size * len(columns) + 1, len(columns))),
                        shape=(out_size, pattern.shape[1]))


def colour_columns(pattern):
    """A greedy distance-2 colouring of the columns of `pattern` (columns
    sharing a row get different colours), largest degree first; returns
    (colour per column, number of colours)."""
    sp = _sparse()
    p = sp.csc_array(pattern, dtype=bool)
    n = p.shape[1]
    conflicts = sp.csr_array((p.T.astype(np.int32) @ p.astype(np.int32)) != 0)
    degree = np.diff(conflicts.indptr)
    colour = np.full(n, -1, np.int64)
    n_colours = 0
    for j in np.argsort(-degree, kind="stable"):
        neighbours = conflicts.indices[conflicts.indptr[j]:conflicts.indptr[j + 1]]
        used = set(colour[neighbours][colour[neighbours] >= 0].tolist())
        c = 0
        while c in used:
            c += 1
        colour[j] = c
        n_colours = max(n_colours, c + 1)
    return colour, n_colours


def seeds(colour, n_colours, shape, dtype):
    """The compressed directions: one per colour, with ones on its columns."""
    s = np.zeros((n_colours, colour.size), dtype)
    s[colour, np.arange(colour.size)] = 1.0
    return s.reshape((n_colours,) + tuple(shape))


# -- the operators ----------------------------------------------------------------

def _recorded(fun, args, argnum, opname):
    from .recorded import Tape
    if not isinstance(argnum, (int, np.integer)) or isinstance(argnum, bool):
        raise TypeError("%s: argnum must be an int, got %r" % (opname, argnum))
    if not -len(args) <= argnum < len(args):
        raise ValueError("%s: argnum %d is out of range for %d arguments"
                         % (opname, argnum, len(args)))
    argnum %= len(args)
    x = args[argnum]
    if isinstance(x, (tuple, list, dict)):
        raise TypeError("%s: the differentiated argument must be a float or an array, got %s"
                        % (opname, type(x).__name__))

    def at(value):
        full = list(args)
        full[argnum] = value
        return fun(*full)
    tape = Tape(at, (x,), False, True)
    if len(tape._out_leaves) != 1:
        raise TypeError("%s needs fun to return one array or float, but it returned %r"
                        % (opname, tape._out_treedef))
    return tape, x


def _pattern_of(tape):
    from .ops.tracing import TRACED
    (out,) = tape._out_leaves
    n = int(np.prod(np.shape(tape._flat_inputs[0]), dtype=np.int64))
    size = int(np.prod(np.shape(out), dtype=np.int64))
    if type(out) not in TRACED:
        return _sparse().csr_array((size, n), dtype=bool)
    return tape_pattern(tape._tape, tape._flat_inputs, out)


def _coo(pattern, data=None):
    coo = _sparse().coo_array(pattern)
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order], coo.col[order]
    values = np.ones(len(rows), bool) if data is None else data(rows, cols)
    return _sparse().coo_array((values, (rows, cols)), shape=pattern.shape)


def jacobian_sparsity(fun, x):
    """The structural pattern of the Jacobian of `fun` at `x` (a float or
    an array): a boolean `scipy.sparse.coo_array` of shape (output size,
    input size), True where an output element depends on an input element
    (through the operations recorded at `x`; see fastad.sparsity).

    >>> fastad.jacobian_sparsity(lambda x: x[1:] * x[:-1], np.ones(4)).toarray()
    array([[ True,  True, False, False],
           [False,  True,  True, False],
           [False, False,  True,  True]])
    """
    tape, _ = _recorded(fun, (x,), 0, "jacobian_sparsity")
    return _coo(_pattern_of(tape))


def hessian_sparsity(fun, x):
    """The structural pattern of the Hessian of scalar `fun` at `x`: a
    symmetric boolean `scipy.sparse.coo_array` (the Jacobian pattern of
    the recorded gradient).

    >>> fastad.hessian_sparsity(lambda x: np.sum(x[1:] * x[:-1]), np.ones(3)).toarray()
    array([[False,  True, False],
           [ True, False,  True],
           [False,  True, False]])
    """
    return _coo(_hessian_pattern(fun, (x,), 0, "hessian_sparsity")[1])


def _hessian_pattern(fun, args, argnum, opname):
    from .core import grad
    tape, x = _recorded(fun, args, argnum, opname)
    if np.ndim(tape._out_leaves[0]) != 0:
        raise TypeError("%s needs fun to return a scalar, but it returned an array of shape %s"
                        % (opname, np.shape(tape._out_leaves[0])))
    gradient_tape, _ = _recorded(lambda *a: grad(fun, argnum)(*a), args, argnum, opname)
    pattern = _pattern_of(gradient_tape)
    return gradient_tape, (pattern + pattern.T).astype(bool)


def _compressed(tape, pattern, x):
    """The values of the Jacobian of `tape` at `x` on `pattern`'s nonzeros,
    by one forward sweep carrying a direction per colour."""
    colour, k = colour_columns(pattern)
    tape._load((x,))
    (out,) = tape._out_leaves
    box = tape._flat_inputs[0]
    dtype = np.result_type(x, np.float64)
    if k == 0:
        return lambda rows, cols: np.zeros(len(rows), dtype)
    (columns,) = tape._tape.forward(0, [(box, seeds(colour, k, np.shape(x), dtype))],
                                    [tape._tape.box(out.node)], k, True)
    if columns is None:
        columns = np.zeros((k, int(np.prod(np.shape(out), dtype=np.int64))), dtype)
    columns = np.asarray(columns).reshape(k, -1)
    return lambda rows, cols: columns[colour[cols], rows]


def sparse_jacobian(fun, argnum=0, mode="auto"):
    """A function returning the Jacobian of `fun` with respect to argument
    `argnum` as a `scipy.sparse.coo_array` of shape (output size, input
    size), from one forward sweep per colour of its columns (see
    fastad.sparsity).  Coordinates are the pattern's, in row-major order,
    explicit zeros kept.  `mode` is "auto", "fwd" or "rev" (accepted; the
    sweep is forward).

    >>> J = fastad.sparse_jacobian(lambda x: x[1:] * x[:-1])(np.array([1.0, 2.0, 3.0]))
    >>> J.toarray()
    array([[2., 1., 0.],
           [0., 3., 2.]])
    """
    if mode not in ("auto", "fwd", "rev"):
        raise ValueError("sparse_jacobian: mode must be 'auto', 'fwd' or 'rev', got %r" % (mode,))

    def jacobian_fun(*args):
        tape, x = _recorded(fun, args, argnum, "sparse_jacobian")
        pattern = _pattern_of(tape)
        return _coo(pattern, _compressed(tape, pattern, np.asarray(x, np.float64)
                                         if np.ndim(x) == 0 else x))
    return jacobian_fun


def sparse_hessian(fun, argnum=0):
    """A function returning the Hessian of scalar `fun` with respect to
    argument `argnum` as a `scipy.sparse.coo_array`, from one
    forward-over-reverse sweep per colour (see fastad.sparsity);
    coordinates in row-major order, explicit zeros kept.

    >>> H = fastad.sparse_hessian(lambda x: np.sum(x[1:] * x[:-1] ** 2))(np.array([1.0, 2.0, 3.0]))
    >>> H.toarray()
    array([[4., 2., 0.],
           [2., 6., 4.],
           [0., 4., 0.]])
    """
    def hessian_fun(*args):
        gradient_tape, pattern = _hessian_pattern(fun, args, argnum, "sparse_hessian")
        x = args[argnum % len(args)]
        return _coo(pattern, _compressed(gradient_tape, pattern, x))
    return hessian_fun
