"""Statistics: var, std, average, median, percentile, quantile, ptp, cov
and corrcoef (NumPy's "statistics" routines), written with fastad's
primitives: NumPy's values on plain input, records on traced input,
derivatives of any order in both modes.
"""
import warnings

import numpy as np

from . import defprim
from .elementwise import (where, multiply, subtract, true_divide, sqrt, add, square, real,
                          imag, is_complex)
from .reductions import sum, mean, max, min
from .shape import getitem, reshape, broadcast_to, ravel, transpose, normalize_axis_tuple
from .sorting import sort
from .tracing import is_traced, as_traceable, asarray
from .elementwise import add, isnan, greater_equal, less_equal
from .indexing import diagonal
from .products import dot
from .shape import swapaxes, moveaxis, squeeze, concatenate, astype


def _as_array(a):
    """A list or tuple (of traced values, say) as the array NumPy would make."""
    return asarray(a) if type(a) is list or type(a) is tuple else a


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """numpy.var (also of a list of traced values)"""
    a = _as_array(a)
    if not is_traced(a):
        return np.var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims)
    centered = subtract(a, mean(a, axis=axis, keepdims=True))
    n = np.size(a) if axis is None else int(np.prod([np.shape(a)[i] for i in np.atleast_1d(axis)]))
    if is_complex(centered):  # |a - mean|^2: a real variance, as NumPy's
        squares = add(square(real(centered)), square(imag(centered)))
    else:
        squares = centered * centered
    return true_divide(sum(squares, axis=axis, keepdims=keepdims), float(n - ddof))


def _is_zero(v):
    return np.equal(v, 0.0)


# where a variance is 0: a primitive, so that recorded tapes guard it
_zero_variance = defprim("zero variance", _is_zero)


def safe_sqrt(v):
    """sqrt(v) whose derivative is 0 where v == 0 instead of inf * 0: a
    standard deviation of equal values is constant there (one element) or
    has a kink whose smallest subgradient is 0 (NumPy's values either way)."""
    zero = np.asarray(_zero_variance(v))  # (NaN stays NaN, as in NumPy)
    if not zero.any():
        return sqrt(v)
    return where(zero, 0.0, sqrt(where(zero, 1.0, v)))


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """numpy.std; the derivative is 0 where all the values are equal."""
    a = _as_array(a)
    if not is_traced(a):
        return np.std(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims)
    return safe_sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


def average(a, axis=None, weights=None, returned=False, keepdims=False):
    """numpy.average"""
    if not is_traced(a, weights):
        return np.average(a, axis=axis, weights=weights, returned=returned, keepdims=keepdims)
    if weights is None:
        result = mean(a, axis=axis, keepdims=keepdims)
        scale = np.size(a) / np.size(result) if np.ndim(result) else np.size(a)
        return (result, np.full(np.shape(result), float(scale))) if returned else result
    if np.ndim(weights) == 1 and np.ndim(a) > 1 and axis is not None:
        shape = [1] * np.ndim(a)
        shape[axis] = np.shape(weights)[0]
        weights = reshape(weights, tuple(shape))
    total = sum(multiply(a, weights), axis=axis, keepdims=keepdims)
    norm = sum(broadcast_to(weights, np.shape(a)) if np.shape(weights) != np.shape(a) else weights,
               axis=axis, keepdims=keepdims)
    result = true_divide(total, norm)
    return (result, norm) if returned else result


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """numpy.median: the middle element (or the mean of the two middle ones)
    of the sorted values; the derivative goes to the element(s) chosen."""
    if not is_traced(a):
        return np.median(a, axis=axis, out=out, overwrite_input=overwrite_input,
                         keepdims=keepdims)
    ndim = np.ndim(a)
    if axis is None:
        ordered, axis_ = sort(ravel(a)), 0
    else:
        axis_ = normalize_axis_tuple(axis, ndim)
        if len(axis_) != 1:
            # several axes: move them last and flatten them into one
            rest = [k for k in range(ndim) if k not in axis_]
            moved = transpose(a, rest + list(axis_))
            ordered = sort(reshape(moved, tuple(np.shape(a)[k] for k in rest) + (-1,)), axis=-1)
            axis_ = len(rest)
        else:
            axis_ = axis_[0]
            ordered = sort(a, axis=axis_)
    n = np.shape(ordered)[axis_]
    if n == 0:
        raise ValueError("median of an empty array")
    half = n // 2
    middle = slice(half, half + 1) if n % 2 else slice(half - 1, half + 1)
    index = (slice(None),) * axis_ + (middle,)
    result = mean(getitem(ordered, index), axis=axis_)
    if keepdims:
        shape = list(np.shape(a))
        for k in (range(ndim) if axis is None else normalize_axis_tuple(axis, ndim)):
            shape[k] = 1
        result = reshape(result, tuple(shape))
    return result


def ptp(a, axis=None, out=None, keepdims=False):
    if not is_traced(a):
        return np.ptp(a, axis=axis, out=out, keepdims=keepdims)
    return subtract(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))
