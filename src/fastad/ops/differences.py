"""Finite differences and integrals: diff and trapezoid, with NumPy's
arithmetic, written with fastad's primitives.
"""
import numpy as np

from . import numpy_versions
from .elementwise import add, multiply, subtract, true_divide
from .reductions import sum
from .axes import axis_index
from .shape import getitem, reshape, axis_slice
from .tracing import is_traced, as_traceable


def diff(a, n=1, axis=-1):
    """numpy.diff"""
    if not is_traced(a):
        return np.diff(a, n=n, axis=axis)
    ndim = np.ndim(a)
    if ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = axis_index(axis, ndim)
    for _ in range(n):
        a = subtract(getitem(a, axis_slice(axis, ndim, 1, None)),
                     getitem(a, axis_slice(axis, ndim, None, -1)))
    return a


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """numpy.trapezoid, NumPy's arithmetic: sum(d * (y[1:] + y[:-1]) / 2)."""
    if not is_traced(y, x, dx):
        return numpy_versions.trapezoid(y, x=x, dx=dx, axis=axis)
    y = as_traceable(y)
    ndim = np.ndim(y)
    axis = axis_index(axis, ndim)
    upper = (slice(None),) * axis + (slice(1, None),)
    lower = (slice(None),) * axis + (slice(None, -1),)
    if x is None:
        d = dx
    else:
        x = as_traceable(x)
        d = subtract(getitem(x, (slice(1, None),)), getitem(x, (slice(None, -1),))) \
            if np.ndim(x) == 1 else subtract(getitem(x, upper), getitem(x, lower))
        if np.ndim(x) == 1 and ndim > 1:
            d = reshape(d, (-1,) + (1,) * (ndim - 1 - axis))
    return sum(true_divide(multiply(d, add(getitem(y, upper), getitem(y, lower))), 2.0),
               axis=axis)
