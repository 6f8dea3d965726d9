"""Array creation (NumPy's "array creation routines"): arrays like another,
copies, numerical ranges and grids, matrices built from diagonals and
triangles, and the index tricks r_ and c_, written with fastad's primitives.
(numpy.array and numpy.asarray are in tracing.py, below the families:
append converts its input with asarray, and creation builds on
manipulation.)
"""
import numpy as np

from .elementwise import where, equal, multiply, subtract, add, true_divide, power
from .indexing import diagonal
from .manipulation import broadcast_arrays
from .shape import (getitem, reshape, concatenate, broadcast_to, moveaxis, ravel, astype, untake,
                    normalize_axis_index)
from .tracing import is_traced, plain_value, as_traceable, asarray


# -- from shape or value ---------------------------------------------------------------
# An array made like a traced one is a constant (plain), as in autograd and
# JAX; only a traced fill value carries a derivative.

def _plain_like(a):
    """The plain array whose shape and dtype an *_like function copies."""
    if isinstance(a, (list, tuple)):
        a = asarray(a)
    return plain_value(a)


def full(shape, fill_value, dtype=None, order="C", **kwargs):
    """numpy.full; a traced fill_value is broadcast to the shape, so that
    the result is differentiable in it (a custom rule building
    full(shape, g) from its cotangent g differentiates again)."""
    if not is_traced(fill_value):
        return np.full(shape, fill_value, dtype, order, **kwargs)
    if dtype is not None and np.dtype(dtype) != fill_value.dtype:
        fill_value = astype(fill_value, dtype)
        if not is_traced(fill_value):  # (an integer dtype: a constant)
            return np.full(shape, fill_value, dtype, order, **kwargs)
    return broadcast_to(fill_value, (shape,) if np.ndim(shape) == 0 else tuple(shape))


def full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kwargs):
    """numpy.full_like: a's shape and dtype, differentiable in a traced fill_value."""
    like = _plain_like(a)
    if not is_traced(fill_value):
        return np.full_like(like, fill_value, dtype, order, subok, shape, **kwargs)
    return full(np.shape(like) if shape is None else shape, fill_value,
                like.dtype if dtype is None else dtype)


def zeros_like(a, dtype=None, *args, **kwargs):
    return np.zeros_like(_plain_like(a), dtype, *args, **kwargs)


def ones_like(a, dtype=None, *args, **kwargs):
    return np.ones_like(_plain_like(a), dtype, *args, **kwargs)


def empty_like(prototype, dtype=None, *args, **kwargs):
    return np.empty_like(_plain_like(prototype), dtype, *args, **kwargs)


# -- from existing data ----------------------------------------------------------------

def copy(a, order="K", subok=False):
    """numpy.copy: a traced value is its own copy (traced values are never
    written in place)."""
    if not is_traced(a):
        return np.copy(a, order=order, subok=subok)
    return a


# -- numerical ranges ------------------------------------------------------------------

def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, **kwargs):
    """numpy.linspace, differentiable in start and stop: NumPy's own
    arithmetic (numpy/_core/function_base.py), so the values are NumPy's."""
    if not is_traced(start, stop):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis, **kwargs)
    num = int(num)
    if num < 0:
        raise ValueError("Number of samples, %d, must be non-negative." % num)
    div = (num - 1) if endpoint else num
    start, stop = as_traceable(start), as_traceable(stop)
    # NumPy 1.x's linspace begins with `asanyarray(start) * 1.0`: its
    # value-based casting makes a float32 start or stop of no dimensions
    # float64 there, and the whole computation with it.  NumPy 2 computes in
    # float32 (NEP 50) and dropped the line: `* 1.0` changes no dtype there.
    start, stop = (v if np.result_type(plain_value(v), 1.0) == np.result_type(plain_value(v))
                   else multiply(v, 1.0) for v in (start, stop))
    delta = subtract(stop, start)
    shape = np.shape(delta)
    dt = np.result_type(plain_value(start), plain_value(stop), float(num))  # (NumPy's)
    y = np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * len(shape))
    if div > 0:
        step = true_divide(delta, float(div))
        if np.any(equal(step, 0.0)):  # (a primitive: recorded tapes guard it)
            y = multiply(y / div, delta)
        else:
            y = multiply(y, step)
    else:
        step = np.nan
        y = multiply(y, delta)
    y = add(y, start)
    if endpoint and num > 1:
        last = reshape(broadcast_to(stop, np.shape(y)[1:]), (1,) + np.shape(y)[1:])
        y = concatenate([getitem(y, slice(0, -1)), last], axis=0)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        y = y.astype(dtype)
    return (y, step) if retstep else y


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """numpy.logspace: base ** linspace(start, stop)."""
    if not is_traced(start, stop, base):
        return np.logspace(start, stop, num, endpoint, base, dtype, axis)
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    out = power(base, y)
    return out if dtype is None else out.astype(dtype)


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """numpy.meshgrid"""
    if not is_traced(*xi):
        return np.meshgrid(*xi, copy=copy, sparse=sparse, indexing=indexing)
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    out = []
    for i, x in enumerate(xi):
        shape = [1] * ndim
        shape[i] = -1
        out.append(reshape(as_traceable(x), tuple(shape)))
    if indexing == "xy" and ndim > 1:
        out[0] = reshape(out[0], (1, -1) + (1,) * (ndim - 2))
        out[1] = reshape(out[1], (-1, 1) + (1,) * (ndim - 2))
    if not sparse:
        out = list(broadcast_arrays(*out))
    return tuple(out)


# -- building matrices -----------------------------------------------------------------

def diag(v, k=0):
    """numpy.diag: the k-th diagonal of a matrix, or a matrix with v on it."""
    if not is_traced(v):
        return np.diag(v, k)
    if np.ndim(v) == 2:
        return diagonal(v, k)
    n = np.shape(v)[0] + abs(k)
    i = np.arange(np.shape(v)[0])
    r, c = (i, i + k) if k >= 0 else (i - k, i)
    return untake(v, (r, c), (n, n), v.dtype)


def make_diagonal(D, offset=0, axis1=0, axis2=1):
    """autograd.numpy.make_diagonal: the array whose diagonal(offset, axis1,
    axis2) is D (its last axis) and which is zero elsewhere, the inverse of
    numpy.diagonal (autograd takes offset=0, axis1=-1, axis2=-2 only)."""
    D = as_traceable(D)
    ndim = np.ndim(D) + 1
    axis1, axis2 = normalize_axis_index(axis1, ndim), normalize_axis_index(axis2, ndim)
    if axis1 == axis2:
        raise ValueError("axis1 and axis2 cannot be the same")
    k = np.shape(D)[-1]
    n = k + abs(offset)
    i = np.arange(k)
    rows, cols = (i, i + offset) if offset >= 0 else (i - offset, i)
    # (untake writes D into zeros: its reverse reads the diagonal back)
    out = untake(D, (Ellipsis, rows, cols), np.shape(D)[:-1] + (n, n), D.dtype)
    # the matrix axes go to axis1 and axis2, in increasing order as numpy.diagonal
    # takes the batch axes in order
    return moveaxis(out, (-2, -1), (axis1, axis2))


def diagflat(v, k=0):
    if not is_traced(v):
        return np.diagflat(v, k)
    return diag(ravel(v), k)


def _tri_mask(shape, k, upper):
    rows, cols = shape[-2], shape[-1]
    mask = np.triu(np.ones((rows, cols), bool), k) if upper else np.tril(np.ones((rows, cols), bool), k)
    return mask


def triu(m, k=0):
    """numpy.triu"""
    if not is_traced(m):
        return np.triu(m, k)
    return where(_tri_mask(np.shape(m), k, True), m, 0.0)


def tril(m, k=0):
    """numpy.tril"""
    if not is_traced(m):
        return np.tril(m, k)
    return where(_tri_mask(np.shape(m), k, False), m, 0.0)


# -- index tricks ----------------------------------------------------------------------

class _Concatenator:
    """numpy.r_ and numpy.c_ on traced values (scalars, arrays and slices;
    NumPy's own for everything else)."""

    def __init__(self, plain, columns):
        self._plain = plain
        self._columns = columns

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        if not is_traced(*items):
            return self._plain[key]
        if any(isinstance(item, str) for item in items):
            raise TypeError("fastad.numpy.r_/c_ take no string directives with traced values")
        parts = []
        for item in items:
            if isinstance(item, slice):
                item = np.r_[item]
            item = as_traceable(item)
            if np.ndim(item) == 0:
                item = reshape(item, (1,))
            if self._columns and np.ndim(item) == 1:
                item = reshape(item, (-1, 1))
            parts.append(item)
        return concatenate(parts, axis=-1 if self._columns else 0)

    def __len__(self):
        return 0


r_ = _Concatenator(np.r_, False)
c_ = _Concatenator(np.c_, True)
