"""Axis bookkeeping shared by the op functions: an axis argument as a tuple
of axes (axis_tuple) or as one axis (axis_index), checked as NumPy checks
it; a reduction's result or cotangent reshaped to broadcast against its
input (expand_reduced); and elements taken along one axis by indexing, so
that their reverse is a scatter-add (take_axis, along_axis).  (The index of
a slice along one axis, axis_slice, and NumPy's axis normalizers are in
shape.py, whose concatenate rule needs them.)
"""
import numpy as np

from .shape import getitem, reshape, normalize_axis_index, normalize_axis_tuple


def axis_tuple(axis, ndim):
    """The axes a reduction over `axis` (None, an int or a sequence of
    ints) reduces, in [0, ndim): NumPy's AxisError for one out of range,
    ValueError for one repeated.  An int axis 0 or -1 of a 0-d array
    reduces nothing, as NumPy's reductions (sum, prod, max, min) allow."""
    if axis is None:
        return tuple(range(ndim))
    if ndim == 0 and isinstance(axis, (int, np.integer)) and axis in (0, -1):
        return ()
    return normalize_axis_tuple(axis, ndim)


def axis_index(axis, ndim):
    """One axis argument in [0, ndim): NumPy's AxisError out of range."""
    return normalize_axis_index(axis, ndim)


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
    axis = normalize_axis_index(axis, np.ndim(a))
    return getitem(a, (slice(None),) * axis + (np.asarray(index),))


def along_axis(a, indices, axis):
    """a's elements indices[..., j, ...] along `axis` (numpy.take_along_axis's
    index: open grids on the other axes, indices of a's shape there)."""
    index = list(np.ogrid[tuple(slice(n) for n in np.shape(indices))])
    index[axis] = np.asarray(indices)
    return getitem(a, tuple(index))
