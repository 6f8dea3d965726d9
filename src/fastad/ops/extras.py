"""More NumPy functions written with fastad's primitives (see composite.py):
each returns NumPy's result on plain input and records on traced input,
with NumPy's values (the same operations in the same order where NumPy's
own code defines them) and derivatives of any order in both modes."""
import numpy as np

from .composite import diag
from .elementwise import multiply, subtract, add, true_divide, power
from .products import matmul
from .reductions import sum, cumsum
from .shape import getitem, reshape, concatenate, broadcast_to, moveaxis, ravel, transpose
from .tracing import is_traced, plain_value, as_traceable


# -- NumPy 2 names of existing functions ------------------------------------------

def permute_dims(a, axes=None):
    return transpose(a, axes)


def matrix_transpose(x):
    if not is_traced(x):
        return np.matrix_transpose(x)
    return moveaxis(x, -1, -2)


def concat(arrays, /, *, axis=0):
    return concatenate(arrays, axis=axis)


def unstack(x, /, *, axis=0):
    if not is_traced(x):
        return np.unstack(x, axis=axis)
    x = moveaxis(x, axis, 0)
    return tuple(getitem(x, i) for i in range(x.shape[0]))


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    if not is_traced(x):
        return np.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)
    if axis is None:
        if np.ndim(x) > 1:
            raise ValueError("cumulative_sum needs an axis for arrays of more than one dimension")
        axis = 0
    out = cumsum(x, axis=axis)
    if include_initial:
        shape = list(np.shape(x))
        shape[axis] = 1
        out = concatenate([np.zeros(shape, x.dtype), out], axis=axis)
    return out


def vecdot(x1, x2, /, *, axis=-1):
    """numpy.vecdot of real vectors: sum(x1 * x2) over `axis`."""
    if not is_traced(x1, x2):
        return np.vecdot(x1, x2, axis=axis)
    return sum(multiply(x1, x2), axis=axis)


def matvec(x1, x2, /):
    if not is_traced(x1, x2):
        return np.matvec(x1, x2)
    return getitem(matmul(x1, getitem(as_traceable(x2), (Ellipsis, None))), (Ellipsis, 0))


def vecmat(x1, x2, /):
    if not is_traced(x1, x2):
        return np.vecmat(x1, x2)
    return getitem(matmul(getitem(as_traceable(x1), (Ellipsis, None, slice(None))), x2),
                   (Ellipsis, 0, slice(None)))


# -- building arrays ----------------------------------------------------------------

def append(arr, values, axis=None):
    """numpy.append"""
    if not is_traced(arr, values) and not (isinstance(arr, (list, tuple)) and is_traced(*arr)):
        return np.append(arr, values, axis=axis)
    from ..numpy import asarray
    arr, values = asarray(arr), asarray(values)
    if axis is None:
        return concatenate([ravel(arr) if np.ndim(arr) != 1 else arr,
                            ravel(values) if np.ndim(values) != 1 else values])
    return concatenate([arr, values], axis=axis)


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
    delta = subtract(stop, start)
    shape = np.shape(delta)
    dt = np.result_type(plain_value(start), plain_value(stop), float(num))  # (NumPy's)
    y = np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * len(shape))
    if div > 0:
        step = true_divide(delta, float(div))
        if np.any(plain_value(step) == 0):
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


def diagflat(v, k=0):
    if not is_traced(v):
        return np.diagflat(v, k)
    return diag(ravel(v), k)


def broadcast_arrays(*args, subok=False):
    if not is_traced(*args):
        return np.broadcast_arrays(*args, subok=subok)
    shape = np.broadcast_shapes(*[np.shape(a) for a in args])
    return tuple(broadcast_to(as_traceable(a), shape) if np.shape(a) != shape else a
                 for a in args)


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


# -- index tricks ---------------------------------------------------------------------

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


def copy(a, order="K", subok=False):
    """numpy.copy: a traced value is its own copy (traced values are never
    written in place)."""
    if not is_traced(a):
        return np.copy(a, order=order, subok=subok)
    return a
