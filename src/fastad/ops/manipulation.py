"""Array manipulation (NumPy's "array manipulation routines"): shapes and
dimensions, transposes, joining, splitting, tiling, adding and removing
elements and rearranging them (padding is in padding.py); written with
fastad's primitives, each is differentiable to any order in both modes.
"""
import numpy as np

from . import numpy_versions
from .axes import take_axis
from .shape import (getitem, reshape, concatenate, transpose, broadcast_to, moveaxis, ravel,
                    astype, axis_slice, normalize_axis_index, normalize_axis_tuple)
from .tracing import TRACED, is_traced, as_traceable, asarray, contains_traced


# -- basic operations ------------------------------------------------------------------

def shape(a):
    return a.shape if type(a) in TRACED else np.shape(a)


def ndim(a):
    return a.ndim if type(a) in TRACED else np.ndim(a)


def size(a, axis=None):
    if type(a) in TRACED:
        return a.size if axis is None else a.shape[axis]
    return np.size(a, axis)


# -- changing dimensions ---------------------------------------------------------------

def atleast_1d(*arys):
    out = [reshape(a, (1,)) if np.ndim(a) == 0 and is_traced(a) else
           (a if is_traced(a) else np.atleast_1d(a)) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys):
    out = []
    for a in arys:
        if not is_traced(a):
            out.append(np.atleast_2d(a))
        elif np.ndim(a) < 2:
            out.append(reshape(a, (1,) * (2 - np.ndim(a)) + np.shape(a)))
        else:
            out.append(a)
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys):
    out = []
    for a in arys:
        if not is_traced(a):
            out.append(np.atleast_3d(a))
        elif np.ndim(a) == 0:
            out.append(reshape(a, (1, 1, 1)))
        elif np.ndim(a) == 1:
            out.append(reshape(a, (1, np.shape(a)[0], 1)))
        elif np.ndim(a) == 2:
            out.append(reshape(a, np.shape(a) + (1,)))
        else:
            out.append(a)
    return out[0] if len(out) == 1 else out


def broadcast_arrays(*args, subok=False):
    if not is_traced(*args):
        return np.broadcast_arrays(*args, subok=subok)
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    return tuple(broadcast_to(as_traceable(a), shape) if np.shape(a) != shape else a
                 for a in args)


# -- transpose-like operations ---------------------------------------------------------

def permute_dims(a, axes=None):
    return transpose(a, axes)


def rollaxis(a, axis, start=0):
    """numpy.rollaxis: a transpose, with NumPy's checks of axis and start."""
    if not is_traced(a):
        return np.rollaxis(a, axis, start)
    n = np.ndim(a)
    axis = normalize_axis_index(axis, n)
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise np.exceptions.AxisError("'start' arg requires %d <= start < %d, but %d was passed in"
                                      % (-n, n + 1, start))
    if axis < start:
        start -= 1
    if axis == start:
        return a
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return transpose(a, tuple(axes))


def matrix_transpose(x):
    if not is_traced(x):
        return numpy_versions.matrix_transpose(x)
    return moveaxis(x, -1, -2)


# -- joining arrays --------------------------------------------------------------------

def concat(arrays, /, *, axis=0):
    return concatenate(arrays, axis=axis)


def vstack(tup):
    return concatenate([atleast_2d(t) for t in tup], axis=0)


row_stack = vstack


def hstack(tup):
    arrs = [atleast_1d(t) for t in tup]
    return concatenate(arrs, axis=0 if np.ndim(arrs[0]) == 1 else 1)


def dstack(tup):
    return concatenate([atleast_3d(t) for t in tup], axis=2)


def column_stack(tup):
    cols = [reshape(t, (-1, 1)) if np.ndim(t) < 2 else t for t in tup]
    return concatenate(cols, axis=1)


# -- splitting arrays ------------------------------------------------------------------

def _split_points(n, indices_or_sections, strict):
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if strict and n % sections:
            raise ValueError("array split does not result in an equal division")
        base, extra = divmod(n, sections)
        sizes = [base + 1] * extra + [base] * (sections - extra)
        return np.cumsum([0] + sizes)
    return np.concatenate([[0], np.asarray(indices_or_sections), [n]])


def array_split(ary, indices_or_sections, axis=0, _strict=False):
    """numpy.array_split"""
    if not is_traced(ary):
        return (np.split if _strict else np.array_split)(ary, indices_or_sections, axis)
    ndim = np.ndim(ary)
    n = np.shape(ary)[axis]
    points = _split_points(n, indices_or_sections, _strict)
    return [getitem(ary, axis_slice(axis, ndim, int(max(0, min(a, n))), int(max(0, min(b, n)))))
            for a, b in zip(points[:-1], points[1:])]


def split(ary, indices_or_sections, axis=0):
    """numpy.split"""
    return array_split(ary, indices_or_sections, axis, _strict=True)


def hsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 1 if np.ndim(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 0)


def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 2)


def unstack(x, /, *, axis=0):
    if not is_traced(x):
        return numpy_versions.unstack(x, axis=axis)
    x = moveaxis(x, axis, 0)
    return tuple(getitem(x, i) for i in range(x.shape[0]))


# -- tiling arrays ---------------------------------------------------------------------

def tile(a, reps):
    """numpy.tile"""
    if not is_traced(a):
        return np.tile(a, reps)
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    ndim = max(np.ndim(a), len(reps))
    a = reshape(a, (1,) * (ndim - np.ndim(a)) + np.shape(a))
    reps = (1,) * (ndim - len(reps)) + reps
    index = np.ix_(*[np.tile(np.arange(n), r) for n, r in zip(np.shape(a), reps)])
    return getitem(a, index)


def repeat(a, repeats, axis=None):
    """numpy.repeat"""
    if not is_traced(a):
        return np.repeat(a, repeats, axis=axis)
    if axis is None or (np.ndim(a) == 0 and axis in (0, -1)):
        # (NumPy repeats a 0-d array along axis 0 or -1 as the 1-d array of its value)
        a, axis = reshape(a, (-1,)), 0
    axis = normalize_axis_index(axis, np.ndim(a))
    return take_axis(a, np.repeat(np.arange(np.shape(a)[axis]), repeats), axis)


# -- joining by nesting ----------------------------------------------------------------

def _nesting(arrays, depth=0):
    """(depth of the list nesting, largest leaf ndim) of numpy.block's input."""
    if type(arrays) is list:
        found = [_nesting(item, depth + 1) for item in arrays] or [(depth + 1, 0)]
        return max(d for d, _ in found), max(n for _, n in found)
    return depth, np.ndim(arrays)


def _block_leaves(arrays, proxy):
    """The nested lists with each leaf replaced: a plain array of its shape
    (proxy=True), or the leaf as fastad takes it."""
    if type(arrays) is list:
        return [_block_leaves(item, proxy) for item in arrays]
    return np.zeros(np.shape(arrays)) if proxy else as_traceable(arrays)


def block(arrays):
    """numpy.block: nested lists joined by concatenate, the innermost along
    the last axis (NumPy checks the nesting first, with its messages)."""
    if not contains_traced(arrays):
        return np.block(arrays)
    np.block(_block_leaves(arrays, True))  # (NumPy's checks of depths and shapes)
    depth, leaf_ndim = _nesting(arrays)
    ndim = max(depth, leaf_ndim)

    def join(item, level):
        if type(item) is list:
            return concatenate([join(x, level + 1) for x in item], axis=-(depth - level))
        return reshape(item, (1,) * (ndim - np.ndim(item)) + np.shape(item))
    return join(_block_leaves(arrays, False), 0)


# -- adding and removing elements ------------------------------------------------------
# insert and delete are selections: NumPy's own insert and delete applied to
# labels (each element's flat index) say which element goes where, and the
# result gathers them, so that the reverse is a scatter-add.

def append(arr, values, axis=None):
    """numpy.append (also of lists holding traced values)"""
    if not (contains_traced(arr) or contains_traced(values)):
        return np.append(arr, values, axis=axis)
    arr, values = asarray(arr), asarray(values)
    if axis is None:
        return concatenate([ravel(arr) if np.ndim(arr) != 1 else arr,
                            ravel(values) if np.ndim(values) != 1 else values])
    return concatenate([arr, values], axis=axis)


def _labels(shape, start=0):
    return np.arange(start, start + int(np.prod(shape)), dtype=np.intp).reshape(shape)


def insert(arr, obj, values, axis=None):
    """numpy.insert, differentiable in arr and in values (cast to arr's dtype,
    as NumPy casts them)."""
    if not (contains_traced(arr) or contains_traced(values)):
        return np.insert(arr, obj, values, axis=axis)
    arr, values = asarray(arr), asarray(values)
    if values.dtype != arr.dtype:
        values = astype(values, arr.dtype)
    labels = np.insert(_labels(np.shape(arr)), obj, _labels(np.shape(values), np.size(arr)),
                       axis=axis)
    return getitem(concatenate([ravel(arr), ravel(values)]), labels)


def delete(arr, obj, axis=None):
    """numpy.delete"""
    if not is_traced(arr):
        return np.delete(arr, obj, axis=axis)
    return getitem(ravel(arr), np.delete(_labels(np.shape(arr)), obj, axis=axis))


# -- rearranging elements --------------------------------------------------------------

def flip(m, axis=None):
    """numpy.flip"""
    if not is_traced(m):
        return np.flip(m, axis=axis)
    ndim = np.ndim(m)
    axes = range(ndim) if axis is None else normalize_axis_tuple(axis, ndim)
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))
    return getitem(m, index)


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def roll(a, shift, axis=None):
    """numpy.roll"""
    if not is_traced(a):
        return np.roll(a, shift, axis=axis)
    if axis is None:
        return reshape(roll(reshape(a, (-1,)), shift, 0), np.shape(a))
    shifts, axes = np.broadcast_arrays(np.atleast_1d(shift), np.atleast_1d(axis))
    for s, ax in zip(shifts, axes):
        ax = normalize_axis_index(int(ax), np.ndim(a))
        n = np.shape(a)[ax]
        a = take_axis(a, (np.arange(n) - s) % n if n else np.arange(0), ax)
    return a


def rot90(m, k=1, axes=(0, 1)):
    """numpy.rot90: flips and a transpose, as NumPy does it."""
    if not is_traced(m):
        return np.rot90(m, k, axes)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    perm = list(range(np.ndim(m)))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return transpose(flip(m, axes[1]), perm)
    return flip(transpose(m, perm), axes[1])
