"""Array manipulation (NumPy's "array manipulation routines"): shapes and
dimensions, transposes, joining, splitting, tiling, adding elements and
rearranging them, padding; written with fastad's primitives, each is
differentiable to any order in both modes.
"""
import numpy as np

from . import numpy_versions
from .axes import take_axis
from .shape import (getitem, reshape, concatenate, transpose, broadcast_to, moveaxis, ravel,
                    axis_slice, normalize_axis_index, normalize_axis_tuple)
from .tracing import TRACED, is_traced, as_traceable


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


# -- adding elements -------------------------------------------------------------------

def append(arr, values, axis=None):
    """numpy.append"""
    if not is_traced(arr, values) and not (isinstance(arr, (list, tuple)) and is_traced(*arr)):
        return np.append(arr, values, axis=axis)
    from .tracing import asarray
    arr, values = asarray(arr), asarray(values)
    if axis is None:
        return concatenate([ravel(arr) if np.ndim(arr) != 1 else arr,
                            ravel(values) if np.ndim(values) != 1 else values])
    return concatenate([arr, values], axis=axis)


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


# -- padding ---------------------------------------------------------------------------

def pad(array, pad_width, mode="constant", **kwargs):
    """numpy.pad for the modes constant, edge, wrap, reflect and symmetric."""
    if not is_traced(array):
        return np.pad(array, pad_width, mode=mode, **kwargs)
    ndim = np.ndim(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int).reshape(-1, 2)
                             if np.ndim(pad_width) else np.full((1, 2), pad_width), (ndim, 2))
    if mode == "constant":
        value = kwargs.get("constant_values", 0.0)
        for axis, (before, after) in enumerate(widths):
            if before or after:
                shape = list(np.shape(array))
                parts = []
                if before:
                    shape[axis] = before
                    parts.append(np.full(shape, value, dtype=array.dtype))
                parts.append(array)
                if after:
                    shape[axis] = after
                    parts.append(np.full(shape, value, dtype=array.dtype))
                array = concatenate(parts, axis=axis)
        return array
    if mode not in ("edge", "wrap", "reflect", "symmetric"):
        raise NotImplementedError("fastad.numpy.pad supports the modes constant, edge, wrap, "
                                  "reflect and symmetric on traced arrays, not %r" % mode)
    for axis, (before, after) in enumerate(widths):
        if before or after:
            index = np.pad(np.arange(np.shape(array)[axis]), (before, after), mode=mode)
            array = take_axis(array, index, axis)
    return array
