"""Evaluating one recorded tape's method at many points (`Tape.map`), and
stacking per-point results into batched arrays (shared with `fastad.vmap`).

A point is evaluated by the tape's own method, so that its result is the
per-point call's to the bit; a point where a recorded decision comes out
differently is either recorded apart (`retape=True`: the mapped tape stays
the one recorded) or reported by its index in `RetapeRequired`.
"""
import numpy as np

from . import _tape
from .ops import shape as shape_ops
from .ops.tracing import TRACED as _TRACED
from .tree import flatten, unflatten

RetapeRequired = _tape.RetapeRequired

#: the methods tape.map evaluates
MAP_METHODS = ("__call__", "gradient", "value_and_grad", "jacobian", "hessian", "jvp", "vjp",
               "hvp")


def leaf_axes(prefix, tree, name):
    """The axis of every leaf of `tree` from `prefix`, a pytree prefix of it
    (an int or None applies to the whole subtree)."""
    out = []
    _match_prefix(prefix, tree, out, name)
    return out


def _match_prefix(prefix, tree, out, name):
    if prefix is None or isinstance(prefix, (int, np.integer)):
        out.extend([prefix] * len(flatten(tree)[0]))
        return
    if type(prefix) is type(tree) or (isinstance(prefix, tuple) and isinstance(tree, tuple)):
        if isinstance(prefix, dict):
            if set(prefix) != set(tree):
                raise ValueError("vmap: %s has keys %s where the argument has %s"
                                 % (name, sorted(map(str, prefix)), sorted(map(str, tree))))
            for key in tree:
                _match_prefix(prefix[key], tree[key], out, name)
            return
        if len(prefix) == len(tree):
            for p, t in zip(prefix, tree):
                _match_prefix(p, t, out, name)
            return
    raise ValueError("vmap: %s %r is not a prefix of the structure of the arguments %r"
                     % (name, prefix, flatten(tree)[1]))


def stack_outputs(outputs, out_axes, empty=False):
    """The outputs of every point as one pytree, each leaf stacked along
    its out axis (or, for None, the one value every point gave)."""
    first_leaves, treedef = flatten(outputs[0])
    rows = []
    for i, out in enumerate(outputs):
        leaves, t = flatten(out)
        if t != treedef:
            raise ValueError("vmap: the function returned %r at point 0 but %r at point %d; "
                             "every point must give the same structure" % (treedef, t, i))
        rows.append(leaves)
    axes = leaf_axes(out_axes, outputs[0], "out_axes")
    stacked = []
    for j, axis in enumerate(axes):
        column = [row[j] for row in rows]
        if axis is None:
            if not empty:
                _check_unmapped(column, j)
            stacked.append(column[0])
            continue
        ndim = np.ndim(column[0]) + 1
        if not -ndim <= axis < ndim:
            raise ValueError("vmap: out_axes %d is out of range for an output of %d dimensions"
                             % (axis, ndim - 1))
        shapes = {np.shape(c) for c in column}
        if len(shapes) > 1:
            raise ValueError("vmap: the function returned outputs of different shapes %s at "
                             "different points; every point must give the same shape"
                             % sorted(shapes))
        if empty:
            value = np.asarray(column[0])
            stacked.append(np.moveaxis(np.empty((0,) + value.shape, value.dtype), 0, axis))
        elif any(type(c) in _TRACED for c in column):
            stacked.append(shape_ops.stack(column, axis=axis))
        else:
            stacked.append(np.stack([np.asarray(c) for c in column], axis=axis))
    return unflatten(treedef, stacked)


def _check_unmapped(column, j):
    if any(type(c) in _TRACED for c in column):
        return  # (traced values: the first point's stands for all)
    first = np.asarray(column[0])
    for i, c in enumerate(column[1:], 1):
        c = np.asarray(c)
        if c.shape != first.shape or not np.array_equal(c, first, equal_nan=c.dtype.kind in "fc"):
            raise ValueError(
                "vmap: output %d has out_axes None but differs between points 0 and %d; an "
                "unmapped output must not depend on the mapped arguments (give it an int "
                "out axis)" % (j, i))


def tape_map(tape, method, stacked_args, retape):
    """`tape.map`: `tape.<method>(*row)` for every row of `stacked_args`
    (each argument a pytree whose leaves have a leading batch axis),
    stacked along a new first axis."""
    if callable(method) and getattr(method, "__self__", None) is tape:
        method = method.__name__
    if method not in MAP_METHODS:
        raise ValueError("tape.map: unknown method %r; use one of %s"
                         % (method, ", ".join(MAP_METHODS)))
    n_args = 2 if method in ("jvp", "vjp", "hvp") else len(tape._structure)
    if len(stacked_args) != n_args:
        raise TypeError("tape.map(%r, ...) takes %d stacked argument%s (those of tape.%s), "
                        "got %d" % (method, n_args, "" if n_args == 1 else "s", method,
                                    len(stacked_args)))
    leaves, treedef = flatten(tuple(stacked_args))
    sizes = set()
    for leaf in leaves:
        if np.ndim(leaf) == 0:
            raise ValueError("tape.map: every argument leaf needs a leading batch axis, but one "
                             "is %s (stack the points: np.stack(points))" % type(leaf).__name__)
        sizes.add(np.shape(leaf)[0])
    if len(sizes) != 1:
        raise ValueError("tape.map: the arguments' leading (batch) axes differ: %s"
                         % sorted(sizes) if sizes else "tape.map: no arguments to map over")
    size = sizes.pop()
    evaluate = getattr(tape, method)
    own_retape = tape.retape
    tape.retape = False  # (a flipped point is recorded apart below: the tape stays this one)
    try:
        outputs = []
        for i in range(size):
            row = unflatten(treedef, [leaf[i] for leaf in leaves])
            try:
                outputs.append(evaluate(*row))
            except RetapeRequired as exc:
                if not retape:
                    raise RetapeRequired("tape.map: at point %d (row %d of the arguments): %s"
                                         % (i, i, exc)) from exc
                outputs.append(_at_new_tape(tape, method, row))
    finally:
        tape.retape = own_retape
    if size == 0:
        return _empty_like_results(tape, method)
    return stack_outputs(outputs, 0)


def _at_new_tape(tape, method, row):
    args = tape._args_tuple(row[0]) if method in ("jvp", "vjp", "hvp") else tuple(row)
    fresh = type(tape)(tape.fun, args, False, tape.guard_kinks)
    return getattr(fresh, method)(*row)


def _empty_like_results(tape, method):
    """The results of `method` for zero points: empty arrays of the shapes
    one point's results have (found at the recorded example)."""
    example = tuple(unflatten(treedef, leaves) for treedef, leaves, _ in tape._rec.inputs)
    if method in ("jvp", "hvp"):
        x = example if len(example) > 1 else example[0]
        v = unflatten(flatten(x)[1], [np.zeros_like(np.asarray(l)) for l in flatten(x)[0]])
        one = getattr(tape, method)(x, v)
    elif method == "vjp":
        x = example if len(example) > 1 else example[0]
        out = tape(*example)
        w = unflatten(flatten(out)[1], [np.zeros_like(np.asarray(l)) for l in flatten(out)[0]])
        one = tape.vjp(x, w)
    else:
        one = getattr(tape, method)(*example)
    return stack_outputs([one], 0, empty=True)
