"""Axis bookkeeping shared by the op functions: an axis argument as a tuple
of axes (axis_tuple), a reduction's result or cotangent reshaped to
broadcast against its input (expand_reduced), and elements taken along one
axis by indexing, so that their reverse is a scatter-add (take_axis,
along_axis).  (The index of a slice along one axis, axis_slice, is in
shape.py, whose concatenate rule needs it.)
"""
import numpy as np

from .shape import getitem, reshape


def axis_tuple(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def _kept_shape(shape, axis):
    """`shape` with the reduced axes kept as length 1."""
    axes = axis_tuple(axis, len(shape))
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def expand_reduced(g, x, axis, keepdims):
    """Reshape a reduction's cotangent so that it broadcasts against x."""
    if keepdims:
        return g
    kept = _kept_shape(np.shape(x), axis)
    if type(g) is np.ndarray or type(g) is float:
        return np.asarray(g).reshape(kept)  # (numerically: no dispatch)
    return reshape(g, kept)


def take_axis(a, index, axis):
    """a.take(index, axis) as indexing (so its reverse is a scatter-add)."""
    axis = axis % np.ndim(a)
    return getitem(a, (slice(None),) * axis + (np.asarray(index),))


def along_axis(a, indices, axis):
    """a's elements indices[..., j, ...] along `axis` (numpy.take_along_axis's
    index: open grids on the other axes, indices of a's shape there)."""
    index = list(np.ogrid[tuple(slice(n) for n in np.shape(indices))])
    index[axis] = np.asarray(indices)
    return getitem(a, tuple(index))
