"""A pytree as one flat vector and back: `flatten` (autograd's
`autograd.misc.flatten`), also named `ravel_pytree` (JAX's
`jax.flatten_util.ravel_pytree`).

The vector holds every leaf raveled, in the tree's order with dict entries
by sorted key (as autograd and JAX order them; insertion order where the
keys do not sort).  Its dtype is the leaves' common float type (float64
when a leaf is an int or a bool).  `unflatten` rebuilds the tree, each
array leaf with its shape and float dtype, each Python number as a float.

Both directions are fastad operations: flatten of traced leaves records a
concatenation, and unflatten of a traced vector gives traced leaves
(slices of it), so either may sit inside a differentiated function.  This
is not `fastad.extend.flatten`, which returns the list of leaves and the
tree's structure.
"""
import numbers

import numpy as np

from ._tape import Scalar
from .ops.shape import astype, concatenate, reshape
from .ops.tracing import TRACED
from .tree import flatten as tree_flatten, unflatten as tree_unflatten

__all__ = ["flatten", "ravel_pytree", "Unflatten"]


def _leaf_order(treedef):
    """The leaves' positions (in the tree's own order) listed with dict
    entries by sorted key."""
    order = []
    _visit(treedef, 0, order)
    return order


def _count(treedef):
    if treedef.kind == "leaf":
        return 1
    return sum(_count(c) for c in treedef.children)


def _visit(treedef, start, order):
    if treedef.kind == "leaf":
        order.append(start)
        return
    if treedef.kind == "none":
        return
    starts, position = [], start
    for child in treedef.children:
        starts.append(position)
        position += _count(child)
    visits = range(len(treedef.children))
    if treedef.keys is not None:
        try:
            visits = sorted(visits, key=lambda i: treedef.keys[i])
        except TypeError:  # keys of mixed types: the dict's own order
            pass
    for i in visits:
        _visit(treedef.children[i], starts[i], order)


def _dtype_of(leaf):
    if type(leaf) is Scalar:
        return np.dtype(np.float64)
    return np.result_type(leaf.value if type(leaf) in TRACED else leaf)


class Unflatten:
    """The function `flatten` returns with its vector: `unflatten(vector)`
    rebuilds the pytree from a vector of the flat length (traced or
    plain); `unflatten.stacked(array)` does it for an array whose last axis
    is that length, each leaf gaining the array's leading axes."""

    def __init__(self, treedef, order, shapes, dtypes, kinds, size):
        self.treedef, self.order, self.size = treedef, order, size
        self.shapes, self.dtypes, self.kinds = shapes, dtypes, kinds

    def __call__(self, vector):
        shape = np.shape(vector)
        if shape != (self.size,):
            raise ValueError("unflatten takes a vector of shape (%d,) (the length flatten gave), "
                             "got one of shape %s" % (self.size, shape))
        return self._rebuild(vector, ())

    def stacked(self, array):
        """The pytree whose leaves have `array`'s leading axes in front."""
        shape = np.shape(array)
        if not shape or shape[-1] != self.size:
            raise ValueError("unflatten.stacked takes an array whose last axis has length %d, "
                             "got one of shape %s" % (self.size, shape))
        return self._rebuild(array, shape[:-1])

    def _rebuild(self, vector, lead):
        traced = type(vector) in TRACED
        if not traced:
            vector = np.asarray(vector)
        leaves = [None] * len(self.order)
        start = 0
        for position in self.order:
            shape, dtype, kind = self.shapes[position], self.dtypes[position], self.kinds[position]
            n = int(np.prod(shape, dtype=np.int64))
            if kind == "number" and not lead:
                leaf = vector[start]       # a traced scalar, or a NumPy scalar
                if not traced:
                    leaf = complex(leaf) if dtype.kind == "c" else float(leaf)
            elif kind == "generic" and not lead and not traced:
                leaf = vector[start] if dtype.kind not in "fc" else dtype.type(vector[start])
            else:
                part = vector[..., start:start + n]
                leaf = reshape(part, lead + shape) if traced else part.reshape(lead + shape)
                if dtype.kind in "fc" and leaf.dtype != dtype:
                    leaf = astype(leaf, dtype) if traced else leaf.astype(dtype)
            leaves[position] = leaf
            start += n
        return tree_unflatten(self.treedef, leaves)

    def __repr__(self):
        return "<unflatten to %r>" % (self.treedef,)


def flatten(tree):
    """Return `(vector, unflatten)`: the leaves of pytree `tree` raveled
    into one 1-D float vector (dicts by sorted key), and the function
    rebuilding a pytree of `tree`'s structure, shapes and float dtypes from
    such a vector.  autograd's `autograd.misc.flatten`; JAX's
    `ravel_pytree`.  Differentiable both ways: flatten of traced leaves and
    unflatten of a traced vector record.

    >>> vector, unflatten = fastad.flatten({"w": numpy.ones((2, 2)), "b": 3.0})
    >>> vector
    array([3., 1., 1., 1., 1.])
    >>> unflatten(numpy.arange(5.0))
    {'w': array([[1., 2.],
           [3., 4.]]), 'b': 0.0}
    >>> fastad.grad(lambda p: np.sum(fastad.flatten(p)[0] ** 2))((1.0, np.array([2.0])))
    (2.0, array([4.]))
    """
    leaves, treedef = tree_flatten(tree)
    order = _leaf_order(treedef)
    shapes, dtypes, kinds = [], [], []
    for leaf in leaves:
        if type(leaf) in TRACED:
            shapes.append(tuple(np.shape(leaf.value)))
            kinds.append("number" if type(leaf) is Scalar else "array")
        elif isinstance(leaf, numbers.Number) and not isinstance(leaf, np.generic):
            shapes.append(())
            kinds.append("number")  # a Python float, int, bool or complex
        else:
            if np.result_type(leaf).kind not in "biufc":
                raise TypeError("flatten: a leaf of dtype %s is not a number; the vector holds "
                                "numbers (floats, ints, arrays of them)" % np.result_type(leaf))
            kinds.append("generic" if isinstance(leaf, np.generic) else "array")
            leaf = np.asarray(leaf)
            shapes.append(leaf.shape)
        dtypes.append(_dtype_of(leaf))
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    if dtype.kind not in "fc":  # (ints and bools alone: a float64 vector)
        dtype = np.dtype(np.float64)
    parts = []
    for position in order:
        leaf = leaves[position]
        if type(leaf) in TRACED:
            part = reshape(leaf, (-1,))
            parts.append(astype(part, dtype) if part.dtype != dtype else part)
        else:
            parts.append(np.ravel(np.asarray(leaf)).astype(dtype))
    if any(type(p) in TRACED for p in parts):
        vector = concatenate(parts)
    else:
        vector = np.concatenate(parts) if parts else np.zeros(0, dtype)
    size = sum(int(np.prod(s, dtype=np.int64)) for s in shapes)
    return vector, Unflatten(treedef, order, shapes, dtypes, kinds, size)


#: JAX's name (jax.flatten_util.ravel_pytree)
ravel_pytree = flatten
