"""Batched evaluation: one function, or one recorded tape, at many points.

    fastad.vmap(fun, in_axes=0, out_axes=0)(xs)   # [fun(x) for x in xs], stacked
    tape.map("gradient", xs)                      # [tape.gradient(x) for x in xs], stacked

`vmap` follows JAX's signature and pytree rules (`in_axes` a prefix of the
positional arguments, keyword arguments mapped over their leading axis,
`out_axes` a prefix of the output).  Where every mapped argument is a plain
float array, `fun` is recorded once at the first point (`fastad.record`,
without the piecewise functions' guards: their derivatives are recomputed
exactly at each point) and the tape is replayed at the others; a point
where a recorded decision (an `if` on a traced value, a `where`) comes out
differently is evaluated by calling `fun` there.  Where recording does not
apply (traced arguments, as in `fastad.jacobian(fastad.vmap(f))`; integer
or object arguments; a function the tape cannot record), `fun` is called
at each point.  Either way the result at each point is `fun`'s at that
point: the recorded path runs the same operations without their Python.
(An operator inside `fun` evaluates its derivative as recorded operations
there, which round as its direct evaluation does, except that a product
or a sum it would form for all its directions at once is formed per
direction: those entries can differ by an ulp.)  Like JAX's `vmap` (and
unlike a Python loop), a function recorded once runs its Python side
effects once.
"""
import numpy as np

from . import _tape
from .core import _active_tapes
from .mapping import leaf_axes, stack_outputs
from .recorded import Tape
from .tree import flatten, unflatten

RetapeRequired = _tape.RetapeRequired


def vmap(fun, in_axes=0, out_axes=0, axis_name=None, axis_size=None):
    """`fun` mapped over an axis of its arguments (JAX's `vmap`): calling
    the result with arrays batched along `in_axes` returns `fun`'s outputs
    at every point, stacked along `out_axes`.

    `in_axes` is an int, None, or a tuple with an entry per positional
    argument, each an int, None or a pytree prefix of that argument: the
    axis each leaf is mapped along (negative axes count from the end; None
    passes the leaf to every point whole).  Keyword arguments are mapped
    along their leading axis.  `out_axes` is an int, None (the output must
    not depend on the point) or a pytree prefix of the output.  `axis_size`
    gives the batch size where no argument is mapped; `axis_name` is
    accepted for JAX's signature (there are no collectives to name).
    Composes with every
    operator: `fastad.vmap(fastad.grad(f))` gives per-point gradients,
    `fastad.jacobian(fastad.vmap(f))` the Jacobian of the batched function.

    >>> fastad.vmap(lambda x, y: x @ y, in_axes=(0, None))(np.eye(2), np.ones(2))
    array([1., 1.])
    >>> fastad.vmap(fastad.grad(lambda x: np.sum(x ** 3)))(np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([[ 3., 12.],
           [27., 48.]])
    """
    if not callable(fun):
        raise TypeError("vmap: fun must be callable, got %s" % type(fun).__name__)
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)  # (a list is never a prefix of the argument tuple)
    _check_axes(in_axes, "in_axes")
    _check_axes(out_axes, "out_axes")
    if axis_size is not None and (not isinstance(axis_size, (int, np.integer))
                                  or isinstance(axis_size, bool) or axis_size < 0):
        raise TypeError("vmap: axis_size must be a non-negative int, got %r" % (axis_size,))

    def batched(*args, **kwargs):
        if isinstance(in_axes, tuple) and len(in_axes) != len(args):
            raise ValueError(
                "vmap: in_axes has %d entries but the function was called with %d positional "
                "arguments; give one entry per positional argument (or one int/None for all)"
                % (len(in_axes), len(args)))
        leaves, treedef = flatten((args, kwargs))
        axes = leaf_axes(in_axes, args, "in_axes") + leaf_axes(0, tuple(kwargs.values()),
                                                                   "in_axes")
        axes = [_normalized_axis(leaf, axis, k) for k, (leaf, axis) in
                enumerate(zip(leaves, axes))]
        size = _batch_size(leaves, axes, axis_size)
        mapped = [k for k, axis in enumerate(axes) if axis is not None]

        def at(*point_leaves):
            full = list(leaves)
            for k, value in zip(mapped, point_leaves):
                full[k] = value
            a, kw = unflatten(treedef, full)
            return fun(*a, **kw)

        def point(i):
            return [_take(leaves[k], axes[k], i) for k in mapped]

        if size == 0:
            outputs = [at(*[_zero_slice(leaves[k], axes[k]) for k in mapped])]
            return stack_outputs(outputs, out_axes, empty=True)
        outputs = _evaluate(at, point, size, [leaves[k] for k in mapped])
        return stack_outputs(outputs, out_axes)

    batched.__name__ = "vmap(%s)" % getattr(fun, "__name__", "fun")
    batched.__doc__ = getattr(fun, "__doc__", None)
    batched.__wrapped__ = fun
    return batched


def _evaluate(at, point, size, mapped_leaves):
    """`at(*point(i))` for i < size: through one recorded tape where the
    mapped leaves are plain float arrays and no operator is tracing (inside
    one, `at` may read its traced values), else by calling at every point."""
    if (size >= 2 and mapped_leaves and all(_recordable(leaf) for leaf in mapped_leaves)
            and not _active_tapes()):
        first = point(0)
        try:
            tape = Tape(at, first, False, False)
        except Exception:
            tape = None  # (the function does not record: it is called at each point)
        if tape is not None:
            outputs = [tape(*first)]
            for i in range(1, size):
                row = point(i)
                try:
                    outputs.append(tape(*row))
                except RetapeRequired:
                    outputs.append(at(*row))  # (it takes another path there)
            return outputs
    return [at(*point(i)) for i in range(size)]


def _recordable(leaf):
    return (type(leaf) is np.ndarray and leaf.dtype.kind == "f"
            and leaf.dtype.itemsize in (4, 8))


def _check_axes(axes, name):
    """A type check of an axes spec (int, None, or containers of them)."""
    leaves, _ = flatten(axes)
    for leaf in leaves:
        if not (leaf is None or (isinstance(leaf, (int, np.integer))
                                 and not isinstance(leaf, bool))):
            raise TypeError("vmap: %s must be built of ints and None, got %r" % (name, leaf))


def _normalized_axis(leaf, axis, k):
    if axis is None:
        return None
    ndim = np.ndim(leaf)
    if not -ndim <= axis < ndim:
        raise ValueError(
            "vmap was asked to map an argument along axis %d, which needs an array of at least "
            "%d dimensions, but got %s of shape %s (use None in in_axes for an argument that "
            "is not mapped)" % (axis, axis + 1 if axis >= 0 else -axis,
                                type(leaf).__name__, np.shape(leaf)))
    return axis % ndim


def _batch_size(leaves, axes, axis_size):
    sizes = {np.shape(leaf)[axis] for leaf, axis in zip(leaves, axes) if axis is not None}
    if len(sizes) > 1:
        detail = ", ".join("an argument of shape %s mapped along axis %d"
                           % (np.shape(leaf), axis)
                           for leaf, axis in zip(leaves, axes) if axis is not None)
        raise ValueError("vmap got inconsistent sizes for the mapped axes: %s" % detail)
    if sizes:
        size = sizes.pop()
        if axis_size is not None and axis_size != size:
            raise ValueError("vmap: axis_size=%d but the mapped axes have size %d"
                             % (axis_size, size))
        return size
    if axis_size is None:
        raise ValueError("vmap needs at least one mapped argument (an int in in_axes), or "
                         "axis_size when none is mapped")
    return int(axis_size)


def _take(leaf, axis, i):
    """Element i of `leaf` along `axis` (a view for plain arrays)."""
    index = (slice(None),) * axis + (i,)
    return leaf[index]


def _zero_slice(leaf, axis):
    shape = np.shape(leaf)
    return np.zeros(shape[:axis] + shape[axis + 1:], np.result_type(leaf))
