"""NaN-ignoring reductions: nansum, nanprod, nanmean, nanmax, nanmin,
nanvar, nanstd (as numpy/lib/_nanfunctions_impl.py).  On traced input the
NaNs are replaced by the reduction's identity, so they receive no
derivative.  Where the NaNs are is the isnan primitive's (a mask that
recorded tapes guard): the masks and counts follow the NaNs of each replay.
"""
import numpy as np

from .elementwise import where, isnan, multiply, subtract, true_divide
from .reductions import sum, max, min, prod
from .tracing import is_traced


def _without_nan(a, fill):
    return where(isnan(a), fill, a)


def _count(a, axis, keepdims):
    """The elements of the traced `a` that are not NaN, along `axis` (plain)."""
    return np.sum(~isnan(a), axis=axis, keepdims=keepdims)


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    if not is_traced(a):
        return np.nansum(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
    return sum(_without_nan(a, 0.0), axis=axis, keepdims=keepdims)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    if not is_traced(a):
        return np.nanprod(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
    return prod(_without_nan(a, 1.0), axis=axis, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kwargs):
    if not is_traced(a):
        return np.nanmean(a, axis=axis, dtype=dtype, out=out, keepdims=keepdims, **kwargs)
    count = _count(a, axis, keepdims)
    return true_divide(nansum(a, axis=axis, keepdims=keepdims), count.astype(a.dtype))


def nanmax(a, axis=None, out=None, keepdims=False, **kwargs):
    if not is_traced(a):
        return np.nanmax(a, axis=axis, out=out, keepdims=keepdims, **kwargs)
    return max(_without_nan(a, -np.inf), axis=axis, keepdims=keepdims)


def nanmin(a, axis=None, out=None, keepdims=False, **kwargs):
    if not is_traced(a):
        return np.nanmin(a, axis=axis, out=out, keepdims=keepdims, **kwargs)
    return min(_without_nan(a, np.inf), axis=axis, keepdims=keepdims)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    if not is_traced(a):
        return np.nanvar(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                         **kwargs)
    centered = _without_nan(subtract(a, nanmean(a, axis=axis, keepdims=True)), 0.0)
    count = _count(a, axis, keepdims)
    return true_divide(sum(multiply(centered, centered), axis=axis, keepdims=keepdims),
                       (count - ddof).astype(a.dtype))


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kwargs):
    if not is_traced(a):
        return np.nanstd(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                         **kwargs)
    from .statistics import safe_sqrt
    return safe_sqrt(nanvar(a, axis=axis, ddof=ddof, keepdims=keepdims))
