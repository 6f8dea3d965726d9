"""Forward mode and the operators built from both modes: jvp, make_jvp,
deriv, jacfwd, jacrev, jacobian, hessian, hvp, make_hvp.

A JVP records the function once and sweeps tangents forward over the tape
(scalar nodes in C, several directions at once for Jacobians).  Second
order is forward-over-reverse: the reverse sweep of `grad` is recorded onto
the tape (nesting), and a tangent sweep goes over all of it.
"""
import functools
import math
import numbers

import numpy as np

from . import _tape
from .ops import products as _products
from .ops.tracing import TRACED as _TRACED
from . import sweeps
from .core import (_Recording, _active_tapes, _describe, _normalize_argnum, _dtype_of,
                   _refuse_subclass, _scalar_output, _seed, _settle, grad as _grad)
from .tree import TreeDef, describe_structures, flatten, unflatten

Scalar = _tape.Scalar


def _check_tangent(x, t, opname, i):
    if type(t) is np.ndarray and type(x) is _tape.Array and t.dtype.kind == "f" \
            and t.shape == x.shape:
        return  # (the common case, without the general checks' dispatch)
    if isinstance(t, np.ndarray) and type(t) is not np.ndarray:
        error = _refuse_subclass(t, "tangent %d" % i, opname)
        if error is not None:
            raise error
    if np.shape(t) != np.shape(x):
        raise ValueError("%s: tangent %d has shape %s but its primal has shape %s"
                         % (opname, i, np.shape(t), np.shape(x)))
    if type(t) not in _TRACED:
        kind = np.result_type(t).kind
        complex_primal = np.result_type(x).kind == "c"
        if kind not in ("fiuc" if complex_primal else "fiu"):
            raise TypeError("%s: tangent %d has dtype %s; expected a %s"
                            % (opname, i, np.result_type(t),
                               "float or complex" if complex_primal else
                               "float (the primal is real: a complex tangent needs a "
                               "complex primal)"))


def _seed_value(box, t):
    if type(t) in _TRACED:
        return t
    if type(box) is Scalar:
        return float(t)
    return np.asarray(t, dtype=box.dtype)


def _zero_tangent(leaf):
    """The tangent of an output no input reaches: zeros of its shape and dtype,
    0.0 for a real scalar.  (A complex scalar's is complex: 0.0 was a float
    where autograd's and JAX's tangent has the output's dtype.)"""
    if np.ndim(leaf):
        return np.zeros(np.shape(leaf), _dtype_of(leaf))
    value = leaf.value if type(leaf) in _TRACED else leaf
    return np.zeros((), np.result_type(value)) if np.iscomplexobj(value) else 0.0


def _tangent_out(rec, out_leaves, out_treedef, tangents):
    """Tangents of every output leaf, zeros where no input reaches, in the
    output's structure (traced when nested)."""
    traced = [o for o in out_leaves if type(o) in _TRACED and o.tape is rec.tape]
    found = dict(zip([id(o) for o in traced], tangents)) if traced else {}
    result = []
    for o in out_leaves:
        t = found.get(id(o))
        if t is None:
            t = _zero_tangent(o)
        elif type(t) not in _TRACED and type(o) is Scalar:
            t = float(t)
        result.append(t)
    return unflatten(out_treedef, result)


def _jvp(rec, tangent_leaves, opname):
    inputs = rec.flat_inputs
    if len(tangent_leaves) != len(inputs):
        raise ValueError("%s: %d tangents for %d primal leaves" % (opname, len(tangent_leaves),
                                                                   len(inputs)))
    seeds = []
    for i, (box, t) in enumerate(zip(inputs, tangent_leaves)):
        _check_tangent(box, t, opname, i)
        seeds.append((box, _seed_value(box, t)))
    out_leaves, out_treedef = flatten(rec.output)
    traced = [o for o in out_leaves if type(o) in _TRACED and o.tape is rec.tape]
    tangents = rec.forward(seeds, traced) if traced else []
    return (rec.result(rec.output, out_leaves, out_treedef),
            _tangent_out(rec, out_leaves, out_treedef, tangents))


def jvp(fun, primals, tangents):
    """JAX-style JVP: `(fun(*primals), J tangents)` by one forward sweep.
    `primals` and `tangents` are tuples of the same structure.

    >>> fastad.jvp(fastad.numpy.sin, (0.0,), (2.0,))
    (0.0, 2.0)
    >>> fastad.jvp(lambda x, y: x * y, (2.0, 3.0), (1.0, 0.0))
    (6.0, 3.0)
    """
    primals, tangents = tuple(primals), tuple(tangents)
    primal_structure, (tangent_leaves, tangent_structure) = flatten(primals)[1], flatten(tangents)
    if primal_structure != tangent_structure:
        raise ValueError("jvp: primals have structure %s but tangents %s"
                         % describe_structures(primal_structure, tangent_structure))
    rec = _Recording(fun, primals, {}, tuple(range(len(primals))), "jvp", keep_all=True)
    return _jvp(rec, tangent_leaves, "jvp")


def make_jvp(fun, argnum=0, *, argnums=None):
    """autograd-style JVP: `make_jvp(fun, argnum)(*args)` records fun once and
    returns `jvp_fun`; `jvp_fun(v)` returns `(fun(*args), J v)`, one tangent
    sweep per call (no re-tracing).  For a tuple of argnums, `v` is a tuple
    of tangents.

    >>> jvp_fun = fastad.make_jvp(lambda x: x ** 2)(np.array([1.0, 2.0]))
    >>> jvp_fun(np.array([1.0, 0.0]))
    (array([1., 4.]), array([2., 0.]))
    >>> jvp_fun(np.array([0.0, 1.0]))[1]
    array([0., 4.])
    """
    def make(*args, **kwargs):
        indices, single = _normalize_argnum(argnum, argnums, len(args), "make_jvp")
        rec = _Recording(fun, args, kwargs, indices, "make_jvp", keep_all=True)

        def jvp_fun(tangent):
            tangent = (tangent,) if single else tuple(tangent)
            expected = [treedef for treedef, _, _ in rec.inputs]
            given = [flatten(t)[1] for t in tangent]
            if given != expected:
                # (leaves paired by position only would pair the wrong ones)
                raise ValueError("make_jvp: the tangent has structure %s but the primal %s"
                                 % describe_structures(_tuple_structure(given),
                                                       _tuple_structure(expected)))
            return _jvp(rec, flatten(tangent)[0], "make_jvp")
        return jvp_fun
    return make


def _tuple_structure(treedefs):
    """The structure of a tuple of subtrees of the given structures."""
    return TreeDef(tuple, tuple(treedefs)) if len(treedefs) != 1 else treedefs[0]


def deriv(fun):
    """The derivative of a function of one scalar, by forward mode:
    `deriv(f)(x) = J(x) 1`, for outputs of any shape.

    >>> fastad.deriv(fastad.numpy.exp)(0.0)
    1.0
    >>> fastad.deriv(lambda t: np.array([t, t ** 2]))(3.0)
    array([1., 6.])
    """
    @functools.wraps(fun)
    def deriv_fun(x, *args, **kwargs):
        rec = _Recording(fun, (x,) + args, kwargs, (0,), "deriv", keep_all=True)
        return _jvp(rec, [np.ones(np.shape(x)) if np.ndim(x) else 1.0], "deriv")[1]
    return deriv_fun


# -- Jacobians ----------------------------------------------------------------

def _size(shape):
    """The number of elements of `shape` (math.prod: numpy.prod costs
    microseconds on a tuple, on the path of every nested Jacobian)."""
    return math.prod(shape)


def _basis(boxes):
    """One direction per input element, for all input leaves: a list of
    (k,) + leaf.shape arrays forming the identity, and k."""
    sizes = [_size(np.shape(b)) for b in boxes]
    k = sum(sizes)
    if len(boxes) == 1:
        seed = np.eye(k, dtype=_dtype_of(boxes[0])).reshape((k,) + np.shape(boxes[0]))
        _products.mark_identity(seed)
        return [seed], k
    seeds, offset = [], 0
    for b, n in zip(boxes, sizes):
        block = np.zeros((k, n), _dtype_of(b))
        block[offset:offset + n] = np.eye(n, dtype=_dtype_of(b))
        seeds.append(block.reshape((k,) + np.shape(b)))
        offset += n
    return seeds, k


def _split_columns(columns, out_shape, in_leaves, in_treedef):
    """Cut the (k, out...) tangents of a forward sweep into per-input-leaf
    Jacobians of shape out_shape + leaf.shape, in the input's structure."""
    from .ops.shape import moveaxis, reshape
    traced = type(columns) in _TRACED
    parts, offset = [], 0
    n_out = len(out_shape)
    for leaf in in_leaves:
        n = _size(np.shape(leaf))
        block = columns[offset:offset + n]
        if traced:
            block = reshape(block, (n,) + out_shape)
            block = moveaxis(block, 0, -1) if out_shape else block
            parts.append(reshape(block, out_shape + np.shape(leaf)))
        else:
            block = block.reshape((n,) + out_shape).transpose(tuple(range(1, n_out + 1)) + (0,))
            parts.append(np.ascontiguousarray(block).reshape(out_shape + np.shape(leaf)))
        offset += n
    return unflatten(in_treedef, parts)


def _jacobian(fun, argnum, argnums, mode, opname):
    """The Jacobian operators.  As in JAX, a pytree output gives a pytree of
    Jacobians in the output's structure, and a tuple of argnums a tuple of
    Jacobians inside each output leaf's place."""
    # (jacfwd of a scalar or a flat list or tuple of them as argument
    # `scalar_index`: recorded and swept in C, _core/operator.pxi)
    scalar_index = (argnum if mode == "fwd" and argnums is None and type(argnum) is int
                    and argnum >= 0 else -1)

    def jacobian_fun(*args, **kwargs):
        rec = None
        if scalar_index >= 0:
            jac = _tape.scalar_operator(True, fun, args, scalar_index, kwargs, _active_tapes(),
                                        _flat_output)
            if jac is not None:
                if type(jac) is not _tape.ScalarCall:
                    return jac
                rec = _Recording.adopt(jac)
        indices, single = _normalize_argnum(argnum, argnums, len(args), opname)
        per_input = [_jacobian_leaves(fun, i, mode, opname, args, kwargs, rec) for i in indices]
        out_treedef = per_input[0][0]
        if out_treedef is None:  # one output array
            return per_input[0][1][0] if single else tuple(js[0] for _, js in per_input)
        if single:
            return unflatten(out_treedef, per_input[0][1])
        n_leaves = len(per_input[0][1])
        return unflatten(out_treedef, [tuple(js[k] for _, js in per_input)
                                       for k in range(n_leaves)])
    return jacobian_fun


class _Flattened:
    """A pytree output of a Jacobian's function as one array: its leaves
    raveled and joined, with the structure and shapes that cut it up again."""
    __slots__ = ("array", "treedef", "shapes")


def _flat_output(out):
    """The output of a Jacobian's function to differentiate: `out`, or a
    _Flattened of a tuple, list or dict (its pending arrays recorded)."""
    if not isinstance(out, (tuple, list, dict)):
        return _settle(out)
    from .ops.shape import concatenate, reshape
    leaves, treedef = flatten(out)
    flat = _Flattened()
    flat.treedef, flat.shapes = treedef, [np.shape(leaf) for leaf in leaves]
    flat.array = _settle(concatenate([reshape(leaf, (-1,)) for leaf in leaves])
                         if leaves else np.zeros(0))
    return flat


def _jacobian_leaves(fun, index, mode, opname, args, kwargs, rec=None):
    """(None, [J]) for a function returning one array; (output treedef,
    [J per output leaf]) for a pytree output, each J in the structure of
    argument `index`.  `rec`: the function recorded already."""
    if rec is None:
        rec = _Recording(lambda *a, **k: _flat_output(fun(*a, **k)), args, kwargs, (index,),
                         opname, keep_all=True)
    flat = rec.output
    if type(flat) is _Flattened:
        rec.output = flat.array
    jac = _jacobian_one(rec, mode, opname)
    if type(flat) is not _Flattened:
        return None, [jac]
    from .ops.shape import reshape
    in_parts, in_treedef = flatten(jac)
    per_output, offset = [], 0
    for shape in flat.shapes:
        n = _size(shape)
        per_output.append(unflatten(in_treedef, [
            reshape(part[offset:offset + n], tuple(shape) + tuple(np.shape(part)[1:]))
            for part in in_parts]))
        offset += n
    return flat.treedef, per_output


def _jacobian_one(rec, mode, opname):
    """The Jacobian of the function `rec` recorded (returning one array)
    with respect to its one differentiated argument: shape out.shape +
    leaf.shape per leaf of that argument.  A scalar output's derivative at
    a scalar leaf is a number of the leaf's type, or a traced value, as
    grad gives it."""
    treedef, leaves, boxes = rec.inputs[0]
    out = rec.output
    if type(out) not in _TRACED and (isinstance(out, bool) or not isinstance(
            out, (numbers.Number, np.ndarray, np.generic))):
        raise TypeError("%s requires a function returning numbers, arrays or pytrees of "
                        "them, but it returned %s" % (opname, _describe(out)))
    out_shape = tuple(np.shape(out))
    n_in = sum(_size(np.shape(b)) for b in boxes)
    n_out = _size(out_shape)
    use_forward = mode == "fwd" or (mode == "auto" and n_in <= n_out)
    if type(out) not in _TRACED or out.tape is not rec.tape or n_in == 0 or n_out == 0:
        # (no input reaches the output, or the Jacobian has no elements: as
        # in JAX, zeros of shape out.shape + leaf.shape, such as (3, 0))
        zeros = [np.zeros(out_shape + np.shape(b), _dtype_of(b)) for b in boxes]
        return _assemble(rec, zeros, out_shape)
    if use_forward and out_shape == () and all(type(b) is Scalar for b in boxes):
        # scalars in, a scalar out: no array of directions to cut up again.
        # Nested, one recorded sweep per input, seeded at that input alone,
        # and the derivatives as they come; else one C sweep of them all.
        if rec.nested:
            parts = [rec.forward([(b, 1.0)], [out])[0] for b in boxes]
            return unflatten(treedef, [0.0 if t is None else t for t in parts])
        eye = np.eye(n_in)
        (column,) = rec.forward(list(zip(boxes, eye)), [out], k=n_in, batched=True)
        column = eye[0] * 0.0 if column is None else column
        return _assemble(rec, list(column), out_shape)
    if use_forward:
        seeds, k = _basis(boxes)
        (columns,) = rec.forward(list(zip(boxes, seeds)), [out], k=k, batched=True)
        if columns is None:
            columns = np.zeros((k,) + out_shape)
        return _assemble(rec, flatten(_split_columns(columns, out_shape, leaves, treedef))[0],
                         out_shape)
    if not rec.nested:
        # one reverse sweep carrying a cotangent per output element
        eye = np.eye(n_out, dtype=out.dtype).reshape((n_out,) + out_shape)
        blocks = rec.tape.backward_many(out, eye, boxes)
        parts = [_restore_dtype(block, leaf).reshape(out_shape + np.shape(leaf))
                 for block, leaf in zip(blocks, leaves)]
        return _assemble(rec, parts, out_shape)
    rows = []
    for j in range(n_out):
        cotangent = np.zeros(n_out, out.dtype)
        cotangent[j] = 1.0
        seed = float(cotangent[0]) if out_shape == () else cotangent.reshape(out_shape)
        grads = rec.backward([(out, seed)])[0]
        rows.append(flatten(grads)[0])
    from .ops.shape import reshape, stack
    parts = []
    for i, leaf in enumerate(leaves):
        stacked = stack([r[i] for r in rows]) if n_out else np.zeros((0,) + np.shape(leaf))
        parts.append(reshape(stacked, out_shape + np.shape(leaf)))
    return unflatten(treedef, parts)


def _assemble(rec, parts, out_shape):
    """The Jacobian in the structure of `rec`'s argument; where the output
    and a leaf are scalars, the part as grad gives it (_Recording._gradient)."""
    treedef, leaves, _ = rec.inputs[0]
    if out_shape == ():
        parts = [rec._gradient(part, leaf) if np.shape(leaf) == () else part
                 for part, leaf in zip(parts, leaves)]
    return unflatten(treedef, parts)


def _restore_dtype(block, leaf):
    return np.asarray(block, _dtype_of(leaf))


def jacfwd(fun, argnum=0, *, argnums=None):
    """Jacobian by forward mode: one tangent sweep carrying one direction per
    input element, shape `out.shape + in.shape`.

    >>> f = lambda x: np.array([x[0] * x[1], np.sin(x[0])])
    >>> fastad.jacfwd(f)(np.array([0.0, 2.0]))
    array([[2., 0.],
           [1., 0.]])
    """
    return _jacobian(fun, argnum, argnums, "fwd", "jacfwd")


def jacrev(fun, argnum=0, *, argnums=None):
    """Jacobian by reverse mode: the function recorded once and swept
    backward once, carrying a cotangent per output element; shape
    `out.shape + in.shape`.

    >>> f = lambda x: np.array([x[0] * x[1], np.sin(x[0])])
    >>> fastad.jacrev(f)(np.array([0.0, 2.0]))
    array([[2., 0.],
           [1., 0.]])
    """
    return _jacobian(fun, argnum, argnums, "rev", "jacrev")


def jacobian(fun, argnum=0, *, argnums=None):
    """Jacobian of `fun` with respect to argument `argnum`, shape
    `out.shape + in.shape`; forward mode when the input is no larger than
    the output, reverse mode otherwise.

    >>> fastad.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0, 3.0]))
    array([[2., 0., 0.],
           [0., 4., 0.],
           [0., 0., 6.]])
    """
    return _jacobian(fun, argnum, argnums, "auto", "jacobian")


# -- second order --------------------------------------------------------------

def hessian(fun, argnum=0, *, argnums=None):
    """Dense Hessian of scalar `fun`, shape `in.shape + in.shape`, by
    forward-over-reverse: the gradient is recorded and one tangent sweep
    carries a direction per input element.

    >>> fastad.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 2.0]))
    array([[4., 2.],
           [2., 0.]])
    """
    index = argnums if argnums is not None else argnum
    jacobian_of_grad = jacfwd(_grad(fun, index), index)

    @functools.wraps(fun)
    def hessian_fun(*args, **kwargs):
        _normalize_argnum(index, None, len(args), "hessian")  # (errors say hessian)
        return jacobian_of_grad(*args, **kwargs)
    return hessian_fun


def hvp(fun, x, v):
    """Hessian-vector product `H(x) v` of scalar `fun` without forming the
    Hessian: the JVP of the gradient (forward-over-reverse, Pearlmutter).

    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> fastad.hvp(f, np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([4., 2.])
    """
    if not (type(x) in (float, Scalar) or (type(x) in (np.ndarray, _tape.Array)
                                           and x.dtype.kind == "f")):
        return jvp(functools.partial(_gradient, fun), (x,), (v,))[1]
    # One real leaf: one recording whose output is the gradient, its
    # reverse sweep recorded after fun's nodes, then one tangent sweep (the
    # operators' wrappers and pytree handling left out).
    rec = _Recording(functools.partial(_traced_gradient, fun), (x,), {}, (0,), "hvp",
                     keep_all=True)
    (box,), gradient = rec.flat_inputs, rec.output
    _check_tangent(box, v, "hvp", 0)
    tangent = None
    if type(gradient) in _TRACED and gradient.tape is rec.tape:
        (tangent,) = rec.forward([(box, _seed_value(box, v))], [gradient])
    if tangent is None:
        return _zero_tangent(gradient)
    return float(tangent) if type(gradient) is Scalar and type(tangent) not in _TRACED else tangent


def _gradient(fun, x):
    """grad(fun)(x), without the operator's wrapper: hvp's inner level."""
    rec = _Recording(fun, (x,), {}, (0,), "hvp")
    out = _scalar_output(rec.output, "hvp")
    return rec.backward([(out, _seed(out))] if out is not None else [])[0]


def _traced_gradient(fun, x):
    """The gradient of fun at the traced leaf x of a recording under way:
    fun recorded from x's node on, and its reverse sweep recorded after it
    (as a nested grad's, without a recording of its own)."""
    out = fun(x)
    _settle(out)
    out = _scalar_output(out, "hvp")
    g = None
    if out is not None:
        end = len(x.tape)
        (g,) = sweeps.reverse(x.tape, x.node, [(out, _seed(out))], [x.node], end=end)
    if g is None:
        return np.zeros(x.shape, x.dtype) if type(x) is _tape.Array else 0.0
    return g


def make_hvp(fun, argnum=0, *, argnums=None):
    """`make_hvp(fun, argnum)(*args)` returns `(hvp_fun, gradient)`, as
    autograd does: the gradient is recorded once at `args`, and each
    `hvp_fun(v)` is one tangent sweep over that recording.

    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> hvp_fun, gradient = fastad.make_hvp(f)(np.array([1.0, 2.0]))
    >>> gradient, hvp_fun(np.array([1.0, 0.0])), hvp_fun(np.array([0.0, 1.0]))
    (array([4., 1.]), array([4., 2.]), array([2., 0.]))
    """
    def make(*args, **kwargs):
        index = argnums if argnums is not None else argnum
        _normalize_argnum(index, None, len(args), "make_hvp")
        grad_fun = _grad(fun, index)
        jvp_fun = make_jvp(grad_fun, index)(*args, **kwargs)

        def hvp_fun(v):
            return jvp_fun(v)[1]
        gradient = jvp_fun(_zeros_like_arg(args, index))[0]
        return hvp_fun, gradient
    return make


def _zeros_like_arg(args, index):
    if isinstance(index, tuple):
        return tuple(_zeros_like_arg(args, i) for i in index)
    leaves, treedef = flatten(args[index])
    return unflatten(treedef, [np.zeros(np.shape(x)) if np.ndim(x) else 0.0 for x in leaves])
