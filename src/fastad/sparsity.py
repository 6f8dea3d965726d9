"""Sparsity patterns of Jacobians and Hessians, found on a recorded tape,
and sparse derivatives by compressed sweeps.

A pattern is propagated node by node over the tape recorded at `x`: each
node holds, as the rows of a boolean sparse matrix (one row per element of
the node), the input elements it depends on.  Scalar nodes take the union
of their operands' rows (nothing for comparisons and `sign`); an element
read `x[i]` takes row i of its array: both in C (`_tape.PatternPass`),
only for the nodes the output reads.  Array nodes follow their op's
structure: elementwise ops (with broadcasting, and fused programs) take the
union of their operands' matching elements; ops that only move elements
(indexing, reshapes, transposes, concatenate, stack, broadcast_to ...) are
evaluated on the elements' indices to find where each one goes; ops with
no derivative depend on nothing.  Any other op makes each of its output
elements depend on every element of its operands: a pattern may hold more
than the exact one, never less.  The Hessian's pattern is the Jacobian
pattern of the recorded gradient.

The pattern holds for inputs that replay the recorded tape without a
guard flipping (the same branches).  A tape works out each pattern, its
colouring and (for Hessians) its recorded gradient once, and keeps them
until it records again.  Sparse derivatives come from one
forward sweep per colour of a greedy distance-2 column colouring (columns
sharing no row get one colour), decompressed into `scipy.sparse.coo_array`
whose coordinates are the pattern's, explicit zeros included.
"""
import math

import numpy as np

from . import _tape
from .tree import unflatten

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
    sizes = [math.prod(np.shape(box)) for box in inputs]
    n = sum(sizes)
    start = min((box.node for box in inputs), default=output.node)
    rows = _Rows(_tape.PatternPass(tape, start, output.node + 1), n)
    offset = 0
    for box, size in zip(inputs, sizes):
        rows.set(box.node, sp.csr_array((np.ones(size, bool), np.arange(offset, offset + size),
                                         np.arange(size + 1)), shape=(size, n)))
        offset += size
    # flag the nodes the output reads: the others' patterns are never needed
    # (a running sum that the output does not read would cost a set of every
    # element so far, per step)
    walk = rows.walk
    walk.mark(output.node)
    i = walk.reach(output.node)
    while i >= start:
        ext = tape.ext(i)
        if ext.primitive is not None:
            for _, parent in ext.parents:
                walk.mark(parent)
        i = walk.reach(i - 1)
    # scalar nodes in C; array nodes here, where the pass stops
    i = walk.run(start)
    while i <= output.node:
        if i not in rows.arrays:  # (an input's rows are set)
            found = _ext_pattern(tape, i, rows, n)
            if found is not None:
                rows.set(i, found)
        i = walk.run(i + 1)
    size = math.prod(np.shape(output))
    if output.node not in rows:
        return sp.csr_array((size, n), dtype=bool)
    return rows.csr(output.node)


class _Rows:
    """The patterns found so far: array nodes' CSR rows here, scalar nodes'
    sets in the C pass (`walk`)."""

    def __init__(self, walk, n):
        self.walk = walk
        self.n = n
        self.arrays = {}

    def set(self, node, pattern):
        pattern = _sparse().csr_array(pattern, dtype=bool)
        pattern.sum_duplicates()  # (sorted and unique within rows: the C lists are)
        self.arrays[node] = pattern
        self.walk.set_array(node, pattern.indptr, pattern.indices)

    def __contains__(self, node):
        return node in self.arrays or self.walk.has(node)

    def csr(self, node):
        pattern = self.arrays.get(node)
        return pattern if pattern is not None else self.stacked([node])

    def stacked(self, nodes):
        """The rows of `nodes` one after another (a scalar node one row)."""
        if not any(node in self.arrays for node in nodes):
            indptr, indices = self.walk.gather(nodes)
            return _sparse().csr_array((np.ones(indices.size, bool), indices, indptr),
                                       shape=(len(nodes), self.n))
        return _sparse().vstack([self.csr(node) for node in nodes], format="csr")


def _union(parts):
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out.astype(bool)


def _ext_pattern(tape, node, rows, n):
    sp = _sparse()
    ext = tape.ext(node)
    csr = rows.csr
    prim = ext.primitive
    if prim is None:
        return None
    if (not prim.vjps and prim.vjp_variadic is None and not prim.jvps
            and prim.jvp_variadic is None):
        return None  # (no rule either way: integer-valued or piecewise constant)
    if prim.name == "stack" and all(type(arg) is float or np.ndim(arg) == 0
                                    for arg in ext.args[1:]):
        # (a stack of scalars, as a loop builds one: element k is argument k)
        nodes = [-1] * (len(ext.args) - 1)
        for position, parent in ext.parents:
            nodes[position - 1] = parent
        return rows.stacked(nodes)
    parents = [(position, parent) for position, parent in ext.parents if parent in rows]
    if not parents:
        return None
    out_shape = () if ext.scalar_out else tuple(ext.shape)
    out_size = math.prod(out_shape)
    if prim.elementwise:
        total = (ext.kwargs or {}).get("total", False)
        parts = []
        for position, parent in parents:
            arg_shape = np.shape(ext.args[position])
            size = math.prod(arg_shape)
            if total:
                parts.append(_dense_rows(csr(parent), out_size))
                continue
            ids = np.broadcast_to(np.arange(size).reshape(arg_shape), out_shape).reshape(-1)
            parts.append(csr(parent)[ids])
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
            return (scatter @ csr(parents[0][1])).astype(bool)
    if prim.name in _MOVES:
        args = list(ext.args)
        offsets = {}
        traced = {position for position, _ in parents}
        base = 0
        for k, arg in enumerate(args):
            if k in traced:  # (whatever type the recorded value has: float32 too)
                shape = np.shape(arg)
                size = math.prod(shape)
                args[k] = (base + np.arange(size, dtype=np.float64)).reshape(shape)
                offsets[k] = base
                base += size
            elif isinstance(arg, (np.ndarray, np.floating, float)):
                args[k] = np.full(np.shape(arg), np.nan)
        try:
            moved = np.asarray(prim.fun(*args, **(ext.kwargs or {})), np.float64).reshape(-1)
        except Exception:
            moved = None
        if moved is not None and moved.size == out_size:
            stacked = rows.stacked([parent for _, parent in
                                    sorted(parents, key=lambda p: offsets[p[0]])])
            valid = ~np.isnan(moved)
            ids = moved[valid].astype(np.int64)
            picked = stacked[ids]
            # rows of constant elements (NaN ids) depend on nothing
            selector = sp.csr_array((np.ones(valid.sum(), bool),
                                     (np.flatnonzero(valid), np.arange(valid.sum()))),
                                    shape=(out_size, valid.sum()))
            return (selector @ picked).astype(bool)
    # any other op: every output element on every element of its operands
    return _union([_dense_rows(csr(parent), out_size) for _, parent in parents])


def _dense_rows(pattern, out_size):
    """`out_size` rows, each the union of `pattern`'s rows."""
    sp = _sparse()
    columns = np.unique(pattern.indices)
    if len(columns) == 0:  # (operands that depend on nothing)
        return sp.csr_array((out_size, pattern.shape[1]), dtype=bool)
    return sp.csr_array((np.ones(out_size * len(columns), bool),
                         np.tile(columns, out_size),
                         np.arange(0, out_size * len(columns) + 1, len(columns))),
                        shape=(out_size, pattern.shape[1]))


def colour_columns(pattern):
    """A greedy distance-2 colouring of the columns of `pattern` (columns
    sharing a row get different colours), largest degree first, in C;
    returns (colour per column, number of colours)."""
    sp = _sparse()
    rows = sp.csr_array(pattern, dtype=bool)
    rows.sum_duplicates()
    columns = rows.tocsc()
    columns.sum_duplicates()
    return _tape.colour_columns_c(rows.shape[1], rows.indptr, rows.indices, columns.indptr,
                                  columns.indices)


def seeds(colour, n_colours, shape, dtype):
    """The compressed directions: one per colour, with ones on its columns."""
    s = np.zeros((n_colours, colour.size), dtype)
    s[colour, np.arange(colour.size)] = 1.0
    return s.reshape((n_colours,) + tuple(shape))


# -- sparse derivatives of a recorded tape (Tape's sparse methods) -----------------

def argument_index(tape, argnum, opname):
    """`argnum` checked against a recorded tape's arguments, made >= 0."""
    n_args = len(tape._structure)
    if not isinstance(argnum, (int, np.integer)) or isinstance(argnum, bool):
        raise TypeError("%s: argnum must be an int, got %r" % (opname, argnum))
    if not -n_args <= argnum < n_args:
        raise ValueError("%s: argnum %d is out of range for a tape of %d arguments"
                         % (opname, argnum, n_args))
    return int(argnum) % n_args


def _argument_box(tape, argnum, opname):
    argnum = argument_index(tape, argnum, opname)
    first = sum(len(specs) for _, specs in tape._structure[:argnum])
    treedef, specs = tape._structure[argnum]
    if treedef.kind != "leaf":
        raise TypeError("%s: argument %d must be one float or array, but the tape was recorded "
                        "with %r" % (opname, argnum, treedef))
    return argnum, tape._flat_inputs[first]


def _one_output(tape, opname):
    if len(tape._out_leaves) != 1:
        raise TypeError("%s needs a function returning one array or float, but this tape's "
                        "output is %r" % (opname, tape._out_treedef))
    return tape._out_leaves[0]


def _jacobian_plan(tape, argnum, opname):
    """(rows, cols, colour, k, shape) of the Jacobian of the tape's output
    with respect to argument `argnum`, worked out once per recording."""
    from .ops.tracing import TRACED
    argnum, box = _argument_box(tape, argnum, opname)
    key = ("jacobian", argnum)
    plan = tape._sparse.get(key)
    if plan is None:
        out = _one_output(tape, opname)
        n = int(np.prod(np.shape(box), dtype=np.int64))
        size = int(np.prod(np.shape(out), dtype=np.int64))
        if type(out) in TRACED:
            pattern = tape_pattern(tape._tape, [box], out)
        else:
            pattern = _sparse().csr_array((size, n), dtype=bool)
        plan = _plan(pattern)
        tape._sparse[key] = plan
    return plan


def _coo(pattern):
    """The pattern's coordinates in row-major order, as a boolean coo_array."""
    coo = _sparse().coo_array(pattern)
    order = np.lexsort((coo.col, coo.row))
    rows, cols = coo.row[order].astype(np.int64), coo.col[order].astype(np.int64)
    return _sparse().coo_array((np.ones(len(rows), bool), (rows, cols)), shape=pattern.shape)


def _plan(pattern):
    coo = _coo(pattern)
    colour, k = colour_columns(pattern)
    return coo.row, coo.col, colour, k, pattern.shape


def _compressed_values(tape, plan, argnum, opname, triangle="both"):
    """(rows, cols, values): the derivative on the plan's coordinates (the
    lower triangle's with `triangle="lower"`) at the tape's loaded inputs,
    by one forward sweep carrying a direction per colour.  rows and cols
    are the same arrays at every call with the same plan."""
    _, box = _argument_box(tape, argnum, opname)
    out = _one_output(tape, opname)
    dtype = np.result_type(box.dtype if hasattr(box, "dtype") else np.float64, np.float64)
    kept = _decompression(tape, plan, box, dtype)
    rows, cols, flat = kept.lower() if triangle == "lower" else (plan[0], plan[1], kept.flat)
    if plan[3] == 0 or len(rows) == 0:
        return rows, cols, np.zeros(len(rows), dtype)
    (columns,) = tape._tape.forward(0, [(box, kept.direction)], [tape._tape.box(out.node)],
                                    plan[3], True)
    if columns is None:
        return rows, cols, np.zeros(len(rows), dtype)
    return rows, cols, np.asarray(columns).reshape(-1).take(flat)


class _Decompression:
    """A plan's compressed directions (`seeds`, read-only: the sweep only
    reads them) and where each of its values lies in the swept columns
    (flat indices), and the same for its lower triangle, made once per
    plan and kept by the tape (`Tape._sparse_seeds`)."""
    __slots__ = ("plan", "direction", "flat", "_lower")

    def __init__(self, plan, box, dtype):
        rows, cols, colour, k, shape = plan
        self.plan = plan
        self.direction = seeds(colour, k, np.shape(box), dtype)
        if np.ndim(box) == 0:
            self.direction = self.direction.reshape(k)
        self.direction.flags.writeable = False
        self.flat = colour[cols] * shape[0] + rows
        self._lower = None

    def lower(self):
        if self._lower is None:
            rows, cols = self.plan[0], self.plan[1]
            keep = np.flatnonzero(rows >= cols)
            self._lower = (rows[keep], cols[keep], self.flat[keep])
        return self._lower


def _decompression(tape, plan, box, dtype):
    kept = tape._sparse_seeds.get(id(plan))  # (an entry holds its plan: the id is its own)
    if kept is None or kept.plan is not plan or kept.direction.dtype != dtype:
        kept = _Decompression(plan, box, dtype)
        if len(tape._sparse_seeds) > 8:  # (plans dropped by retapes)
            tape._sparse_seeds.clear()
        tape._sparse_seeds[id(plan)] = kept
    return kept


def check_format(format, opname):
    """A sparse result's `format`: "coo", "csr" or "csc"."""
    if format not in ("coo", "csr", "csc"):
        raise ValueError("%s: format must be 'coo', 'csr' or 'csc', got %r" % (opname, format))


def _result(shape, rows, cols, values, out, opname, format="coo"):
    """The values on coordinates (rows, cols) as a scipy.sparse array of
    `format`, or refilled into `out`, a result of an earlier call."""
    sp = _sparse()
    check_format(format, opname)
    kind = {"coo": sp.coo_array, "csr": sp.csr_array, "csc": sp.csc_array}[format]
    order, indices, indptr = _layout(rows, cols, shape, format)
    data = values if order is None else values.take(order)
    if out is None:
        if format == "coo":
            return kind((data, (rows, cols)), shape=shape)
        return kind((data, indices.copy(), indptr.copy()), shape=shape)
    # (an `out` filled from these very coordinate arrays is not compared
    # again; one from an earlier plan, before a retape, must be)
    made = getattr(out, "_fastad_coordinates", None)
    if not (made is not None and made[0] is rows and made[1] is cols and made[2] == format):
        if format == "coo":
            same = (isinstance(out, kind) and out.nnz == len(data)
                    and np.array_equal(out.row, rows) and np.array_equal(out.col, cols))
        else:
            same = (isinstance(out, kind) and out.nnz == len(data)
                    and np.array_equal(out.indices, indices)
                    and np.array_equal(out.indptr, indptr))
        if not same or out.shape != shape:
            raise ValueError("%s: out must be the %s_array an earlier call returned with this "
                             "pattern (shape %s, %d entries at the same coordinates; a retape "
                             "may have changed the pattern)" % (opname, format, shape, len(data)))
        out._fastad_coordinates = (rows, cols, format)
    out.data[...] = data
    return out


_LAYOUTS = {}  # id(rows), id(cols), format -> (rows, cols, layout): the last few plans'


def _layout(rows, cols, shape, format):
    """(order, indices, indptr) of row-major coordinates in `format`: the
    values' order (None: as they are), and the CSR or CSC index arrays
    (None for "coo"), made once per plan."""
    if format == "coo":
        return None, None, None
    kept = _LAYOUTS.get((id(rows), id(cols), format))
    if kept is not None and kept[0] is rows and kept[1] is cols:
        return kept[2]
    if format == "csr":  # (row-major coordinates are CSR's order)
        order, major, minor, count = None, rows, cols, shape[0]
    else:
        order = np.lexsort((rows, cols))
        major, minor, count = cols[order], rows[order], shape[1]
    indptr = np.zeros(count + 1, np.int64)
    np.cumsum(np.bincount(major, minlength=count), out=indptr[1:])
    layout = (order, np.asarray(minor, np.int64), indptr)
    if len(_LAYOUTS) > 16:
        _LAYOUTS.clear()
    _LAYOUTS[(id(rows), id(cols), format)] = (rows, cols, layout)
    return layout


def sparse_values(tape, args, argnum, kind, triangle="both"):
    """(rows, cols, values, shape) of the tape's sparse Jacobian (`kind`
    "jacobian") or Hessian ("hessian") at `args`, without building a
    matrix: rows and cols are the same arrays at every call while the tape
    keeps its recording.  The caller holds the tape's lock."""
    if kind == "jacobian":
        _argument_box(tape, argnum, "sparse_jacobian")
        tape._load(args)  # (first: a retape records again, and drops the plan)
        plan = _jacobian_plan(tape, argnum, "sparse_jacobian")
        return _compressed_values(tape, plan, argnum, "sparse_jacobian") + (plan[4],)
    if triangle not in ("both", "lower"):
        raise ValueError("sparse_hessian: triangle must be 'both' or 'lower', got %r"
                         % (triangle,))
    argnum, gradient = _gradient_tape(tape, argnum, "sparse_hessian")
    gradient._load(args)
    plan = _hessian_plan(gradient, argnum)
    return _compressed_values(gradient, plan, argnum, "sparse_hessian", triangle) + (plan[4],)


def tape_jacobian_sparsity(tape, argnum):
    rows, cols, _, _, shape = _jacobian_plan(tape, argnum, "jacobian_sparsity")
    return _sparse().coo_array((np.ones(len(rows), bool), (rows, cols)), shape=shape)


def tape_sparse_jacobian(tape, args, argnum, out, format="coo"):
    rows, cols, values, shape = sparse_values(tape, args, argnum, "jacobian")
    return _result(shape, rows, cols, values, out, "sparse_jacobian", format)


def _gradient_tape(tape, argnum, opname):
    """The tape's gradient with respect to `argnum`, recorded on first use."""
    from .core import grad
    argnum, _ = _argument_box(tape, argnum, opname)
    out = _one_output(tape, opname)
    if np.ndim(out) != 0:
        raise TypeError("%s needs a function returning a scalar, but this tape returns an array "
                        "of shape %s" % (opname, np.shape(out)))
    gradient = tape._sparse.get(("gradient", argnum))
    if gradient is None:
        if tape.fun is None:
            raise _tape.RetapeRequired(
                "%s records the gradient of the function on first use, but this tape was "
                "unpickled without its function (it did not pickle)" % opname)
        example = tuple(unflatten(treedef, leaves) for treedef, leaves, _ in tape._rec.inputs)
        gradient = type(tape)(grad(tape.fun, argnum), example, tape.retape, tape.guard_kinks)
        tape._sparse[("gradient", argnum)] = gradient
    return argnum, gradient


def _hessian_plan(gradient, argnum):
    """The plan of the gradient tape's Jacobian on its symmetrised pattern,
    kept by the gradient tape (a retape of it drops the plan)."""
    plan = gradient._sparse.get(("hessian", argnum))
    if plan is None:
        pattern = _jacobian_pattern_of(gradient, argnum)
        plan = _plan((pattern + pattern.T).astype(bool))
        gradient._sparse[("hessian", argnum)] = plan
    return plan


def _jacobian_pattern_of(tape, argnum):
    from .ops.tracing import TRACED
    _, box = _argument_box(tape, argnum, "hessian_sparsity")
    out = _one_output(tape, "hessian_sparsity")
    n = int(np.prod(np.shape(box), dtype=np.int64))
    if type(out) not in TRACED:
        return _sparse().csr_array((n, n), dtype=bool)
    return tape_pattern(tape._tape, [box], out)


def tape_hessian_sparsity(tape, argnum):
    argnum, gradient = _gradient_tape(tape, argnum, "hessian_sparsity")
    rows, cols, _, _, shape = _hessian_plan(gradient, argnum)
    return _sparse().coo_array((np.ones(len(rows), bool), (rows, cols)), shape=shape)


def tape_sparse_hessian(tape, args, argnum, triangle, out, format="coo"):
    rows, cols, values, shape = sparse_values(tape, args, argnum, "hessian", triangle)
    return _result(shape, rows, cols, values, out, "sparse_hessian", format)


# -- pickling: a tape's plans travel with it (to Dask workers) -------------------------

def plans_state(tape, with_gradients):
    """The tape's sparsity plans for its pickle: the Jacobian plans, and the
    recorded gradients (carrying their Hessian plans) when the function
    pickles too (they record again from it on a retape)."""
    return {key: value for key, value in tape._sparse.items()
            if key[0] != "gradient" or with_gradients}


def checked_plans(state, tape, corrupt):
    """The plans of a loaded pickle, each checked against the tape (shapes,
    coordinates in range and in row-major order, a colouring with no two
    columns of one colour in a row); `corrupt(field, problem)` makes the
    error naming what is wrong."""
    if type(state) is not dict:
        raise corrupt("sparse", "is not a dict of sparsity plans")
    plans = {}
    for key, value in state.items():
        if not (type(key) is tuple and len(key) == 2 and key[0] in ("jacobian", "hessian",
                                                                     "gradient")
                and type(key[1]) is int and 0 <= key[1] < len(tape._structure)):
            raise corrupt("sparse", "holds the key %r" % (key,))
        field = "sparse[%r]" % (key,)
        if key[0] == "gradient":
            if type(value) is not type(tape):
                raise corrupt(field, "is not a recorded tape")
            plans[key] = value
            continue
        try:
            _, box = _argument_box(tape, key[1], "pickle")
            out = _one_output(tape, "pickle")
        except (TypeError, ValueError) as exc:
            raise corrupt(field, "does not fit this tape: %s" % exc) from None
        n = int(np.prod(np.shape(box), dtype=np.int64))
        m = int(np.prod(np.shape(out), dtype=np.int64))
        plans[key] = _checked_plan(value, (m, n), field, corrupt)
    return plans


def _checked_plan(plan, shape, field, corrupt):
    if not (type(plan) is tuple and len(plan) == 5):
        raise corrupt(field, "is not a (rows, cols, colour, colours, shape) plan")
    rows, cols, colour, k, plan_shape = plan
    if tuple(plan_shape) != shape:
        raise corrupt(field, "has shape %s where the tape's derivative has %s"
                      % (plan_shape, shape))
    for name, array, length in (("rows", rows, None), ("cols", cols, None),
                                ("colour", colour, shape[1])):
        if not (type(array) is np.ndarray and array.dtype == np.int64 and array.ndim == 1
                and (length is None or array.size == length)):
            raise corrupt(field, "has %s that are not a 1-d int64 array%s"
                          % (name, "" if length is None else " of %d" % length))
    if type(k) is not int or k < 0 or rows.size != cols.size:
        raise corrupt(field, "has %r colours, or rows and cols of different lengths" % (k,))
    if rows.size and (rows.min() < 0 or rows.max() >= shape[0] or cols.min() < 0
                      or cols.max() >= shape[1]
                      or np.any(np.diff(rows * shape[1] + cols) <= 0)):
        raise corrupt(field, "has coordinates outside %s or out of row-major order" % (shape,))
    if colour.size and (colour.min() < 0 or colour.max() >= k):
        raise corrupt(field, "has colours outside 0..%d" % (k - 1))
    if rows.size and np.unique(rows * max(k, 1) + colour[cols]).size != rows.size:
        raise corrupt(field, "has a colouring with two columns of one colour in a row")
    return rows, cols, colour, k, shape
