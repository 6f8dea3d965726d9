"""Statistics: var, std, average, median, percentile, quantile, ptp, cov
and corrcoef (NumPy's "statistics" routines), written with fastad's
primitives: NumPy's values on plain input, records on traced input,
derivatives of any order in both modes.
"""
import warnings

import numpy as np

from . import defprim
from .elementwise import (where, multiply, subtract, true_divide, sqrt, add, square, real,
                          imag, is_complex, conjugate)
from .reductions import sum, mean, max, min
from .shape import getitem, reshape, broadcast_to, ravel, transpose, normalize_axis_tuple
from .sorting import sort
from .tracing import is_traced, as_traceable, asarray
from .elementwise import add, isnan, floor, less, greater_equal, less_equal
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
    total = sum(squares, axis=axis, keepdims=keepdims)
    # (the count in the sum's dtype: NumPy 1.x's value-based casting would make a
    # float32 0-d sum divided by a Python float float64, where numpy.var keeps float32)
    dtype = np.result_type(getattr(total, "dtype", np.float64), np.float32)
    return true_divide(total, np.asarray(n - ddof, dtype))


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


# -- order statistics: quantile and percentile -------------------------------------------
#
# NumPy's method 'linear' (numpy/lib/_function_base_impl.py, _quantile): the
# sorted values at the virtual index (n - 1) q, interpolated between its
# neighbours by _lerp.  The order is found by sort, which indexes by a
# permutation that recorded tapes guard, so a replay where the order differs
# raises RetapeRequired; the interpolation is NumPy's arithmetic, so the
# values are NumPy's, and the derivative goes to the two neighbours (weights
# 1 - gamma and gamma), and to q when q is traced.

def _reduced_to_front(a, axis):
    """(array, n): NumPy's _ureduce for quantiles: the reduced axes merged
    into one (flattened for axis=None, swapped as NumPy swaps them), moved
    to the front."""
    ndim = np.ndim(a)
    if axis is None:
        a = ravel(a)
    else:
        axes = normalize_axis_tuple(axis, ndim)
        if len(axes) == 1:
            a = moveaxis(a, axes[0], 0) if axes[0] else a
            return a, np.shape(a)[0]
        keep = sorted(set(range(ndim)) - set(axes))
        for i, s in enumerate(keep):
            a = swapaxes(a, i, s)
        a = reshape(a, np.shape(a)[:len(keep)] + (-1,))
        a = moveaxis(a, -1, 0)
    return a, np.shape(a)[0]


def _lerp(a, b, t):
    """NumPy's _lerp: a + (b - a) t, or b - (b - a)(1 - t) where t >= 0.5."""
    diff_b_a = subtract(b, a)
    lerp = add(a, multiply(diff_b_a, t))
    # (a Python float t stays one: NumPy's subtract(1, t) would be a float64
    # scalar, which promotes float32 arrays where NumPy's weak scalar does not)
    one_minus_t = 1.0 - t if type(t) is float else subtract(1, t)
    return where(greater_equal(t, 0.5), subtract(b, multiply(diff_b_a, one_minus_t)), lerp)


def _quantile_linear(a, q, axis, keepdims, weak_q):
    arr, n = _reduced_to_front(a, axis)
    ordered = sort(arr, axis=0)
    virtual = multiply(n - 1, q)
    plain_virtual = np.asarray(getattr(virtual, "value", virtual))
    if np.issubdtype(plain_virtual.dtype, np.integer):
        result = getitem(ordered, plain_virtual)
    else:
        # (primitives: a traced q's neighbours are decisions that recorded tapes guard)
        previous = np.array(floor(virtual), dtype=plain_virtual.dtype)
        following = np.array(previous + 1)
        above = np.asarray(greater_equal(virtual, n - 1))
        below, missing = np.asarray(less(virtual, 0)), np.asarray(isnan(virtual))
        previous[above], following[above] = -1, -1
        previous[below], following[below] = 0, 0
        previous[missing], following[missing] = -1, -1
        previous, following = previous.astype(np.intp), following.astype(np.intp)
        gamma = subtract(virtual, previous)  # (a comparison-free subtraction: q's derivative)
        if getattr(gamma, "dtype", None) != plain_virtual.dtype:
            gamma = astype(as_traceable(gamma), plain_virtual.dtype)
        if weak_q and not is_traced(gamma):
            gamma = float(gamma)
        else:
            gamma = reshape(gamma, np.shape(plain_virtual) + (1,) * (np.ndim(ordered) - 1))
        result = _lerp(getitem(ordered, previous), getitem(ordered, following), gamma)
    if np.issubdtype(ordered.dtype, np.inexact):
        nans = np.asarray(isnan(getitem(ordered, -1)))  # (NaNs sort last: NumPy's NaN check)
        if nans.any():
            result = where(nans, np.nan, result)
    if keepdims:
        shape = list(np.shape(a))
        for k in (range(len(shape)) if axis is None else normalize_axis_tuple(axis, len(shape))):
            shape[k] = 1
        result = reshape(result, np.shape(plain_virtual) + tuple(shape))
    return result


def _quantile(name, a, q, axis, out, overwrite_input, method, keepdims, weights, scale):
    a = _as_array(a)
    if not is_traced(a, q):
        extra = {} if weights is None else {"weights": weights}  # (NumPy >= 2.0's keyword)
        return getattr(np, name)(a, q, axis=axis, out=out, overwrite_input=overwrite_input,
                                 method=method, keepdims=keepdims, **extra)
    if out is not None:
        raise TypeError("fastad.numpy.%s does not support out=; drop the argument" % name)
    if method != "linear" or weights is not None:
        raise NotImplementedError("fastad.numpy.%s differentiates method='linear' (NumPy's "
                                  "default) without weights, not method=%r%s" % (
                                      name, method, " with weights" if weights is not None else ""))
    weak_q = type(q) in (int, float)
    q = true_divide(q, scale) if scale != 1 else as_traceable(q)
    plain_q = np.asarray(getattr(q, "value", q))
    if np.ndim(plain_q) > 2:
        raise ValueError("q must be a scalar or 1d")
    if not (np.all(plain_q >= 0) and np.all(plain_q <= 1)):
        raise ValueError("%s must be in the range [0, %d]"
                         % ("Quantiles" if scale == 1 else "Percentiles", scale))
    a = as_traceable(a)
    if a.dtype.kind not in "fc":
        a = astype(a, np.float64) if a.dtype.kind != "c" else a
    return _quantile_linear(a, q, axis, keepdims, weak_q)


def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, weights=None):
    """numpy.quantile with NumPy's default method 'linear': differentiable
    in a (and in q); the order found is guarded on replay."""
    return _quantile("quantile", a, q, axis, out, overwrite_input, method, keepdims, weights, 1)


def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, weights=None):
    """numpy.percentile: quantile at q / 100."""
    return _quantile("percentile", a, q, axis, out, overwrite_input, method, keepdims, weights,
                     100)


# -- correlating ---------------------------------------------------------------------

# where `cov` transposes a one-row m given rowvar=False: NumPy 2.x transposes any
# 2-d m, NumPy 1.26 only one with more than one row
_COV_TRANSPOSES_ONE_ROW = np.cov(np.zeros((1, 3)), rowvar=False, bias=True).ndim == 2


def _at_least_2d(x, dtype):
    x = as_traceable(x)
    if x.dtype != dtype:
        x = astype(x, dtype)
    return reshape(x, (1,) * (2 - np.ndim(x)) + np.shape(x)) if np.ndim(x) < 2 else x


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    """numpy.cov, with NumPy's steps (average, centre, dot, scale), so its
    values; differentiable in m, y and the weights."""
    m = _as_array(m)
    y = _as_array(y) if y is not None else None
    if not is_traced(m, y, fweights, aweights):
        return np.cov(m, y, rowvar, bias, ddof, fweights, aweights, dtype=dtype)
    if ddof is not None and ddof != int(ddof):
        raise ValueError("ddof must be integer")
    m = as_traceable(m)
    if np.ndim(m) > 2:
        raise ValueError("m has more than 2 dimensions")
    if y is not None:
        y = as_traceable(y)
        if np.ndim(y) > 2:
            raise ValueError("y has more than 2 dimensions")
    if dtype is None:
        dtype = np.result_type(*[getattr(v, "value", v) for v in (m, y) if v is not None],
                               np.float64)
    x = _at_least_2d(m, dtype)
    if not rowvar and (np.ndim(m) != 1 if _COV_TRANSPOSES_ONE_ROW else np.shape(x)[0] != 1):
        x = transpose(x)
    if np.shape(x)[0] == 0:
        return np.array([]).reshape(0, 0)
    if y is not None:
        y = _at_least_2d(y, dtype)
        if not rowvar and np.shape(y)[0] != 1:
            y = transpose(y)
        x = concatenate([x, y], axis=0)
    if ddof is None:
        ddof = 1 if bias == 0 else 0
    w = None
    observations = np.shape(x)[1]
    for weights, kind in ((fweights, "fweights"), (aweights, "aweights")):
        if weights is None:
            continue
        weights = as_traceable(weights)
        weights = weights if weights.dtype == np.float64 else astype(weights, np.float64)
        plain = np.asarray(getattr(weights, "value", weights))
        if kind == "fweights" and not np.all(plain == np.around(plain)):
            raise TypeError("fweights must be integer")
        if plain.ndim > 1:
            raise RuntimeError("cannot handle multidimensional %s" % kind)
        if plain.shape[0] != observations:
            raise RuntimeError("incompatible numbers of samples and %s" % kind)
        if np.any(plain < 0):
            raise ValueError("%s cannot be negative" % kind)
        if kind == "aweights":
            aweights = weights
        w = weights if w is None else multiply(w, weights)
    average_, w_sum = average(x, axis=1, weights=w, returned=True)
    w_sum = getitem(w_sum, 0)
    if w is None:
        fact = observations - ddof
    elif ddof == 0:
        fact = w_sum
    elif aweights is None:
        fact = subtract(w_sum, ddof)
    else:
        fact = subtract(w_sum, true_divide(multiply(ddof, sum(multiply(w, aweights))), w_sum))
    if np.asarray(less_equal(fact, 0)):
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=3)
        fact = 0.0
    x = subtract(x, getitem(average_, (slice(None), None)))
    x_t = transpose(x if w is None else multiply(x, w))
    # (X.T.conj() of a real X is the view X.T itself: NumPy's product of X and
    # its transpose, which BLAS computes as the symmetric product, as here)
    c = dot(x, conjugate(x_t) if is_complex(x_t) else x_t)
    c = multiply(c, true_divide(1, fact))
    return squeeze(c)


def _clip_rounding(c):
    if np.iscomplexobj(c):  # (NumPy's: the real and the imaginary parts apart)
        return np.clip(c.real, -1, 1) + 1j * np.clip(c.imag, -1, 1)
    return np.clip(c, -1, 1)


# corrcoef clips its quotients to [-1, 1], which only removes rounding: the
# derivative is the quotient's (the exact value never leaves [-1, 1]), and no
# decision is recorded that a replay could find reversed by a rounding
_clip_rounding = defprim("corrcoef's clip to [-1, 1]", _clip_rounding,
                         vjps=[lambda g, ans, c: g], jvps=[lambda t, ans, c: t],
                         elementwise=True, saves=[()])


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """numpy.corrcoef: cov scaled by the standard deviations, with NumPy's
    steps; differentiable in x and y."""
    x = _as_array(x)
    y = _as_array(y) if y is not None else None
    if not is_traced(x, y):
        return np.corrcoef(x, y, rowvar, dtype=dtype)
    c = cov(x, y, rowvar, dtype=dtype)
    if np.ndim(c) < 2:
        return true_divide(c, c)  # (NumPy's answer to a single variable)
    stddev = sqrt(real(diagonal(c)))
    c = true_divide(c, getitem(stddev, (slice(None), None)))
    c = true_divide(c, getitem(stddev, (None, slice(None))))
    return _clip_rounding(c)
