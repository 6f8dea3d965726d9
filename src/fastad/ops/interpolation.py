"""One-dimensional piecewise-linear interpolation: numpy.interp, with
NumPy's arithmetic (numpy/_core/src/multiarray/compiled_base.c, arr_interp):
the slope (fp[j+1] - fp[j]) / (xp[j+1] - xp[j]) times (x - xp[j]), plus
fp[j], so the values are NumPy's; differentiable in x, fp, left and right
(xp and period are constants).

The interval j each x falls in is a decision: searchsorted finds it and the
comparisons with the last point and NaN are primitives, so recorded tapes
guard all of them.  At a sample point the derivative in x is the slope of
the interval to the right (at the last point, of the one to the left), as
in JAX: the value there is computed by the same formula, which gives
fp[j] exactly (slope * 0 added), so no branch that would zero the
derivative is needed.
"""
import numpy as np

from .elementwise import add, multiply, subtract, true_divide, where, greater, isnan, mod
from .shape import getitem, concatenate, astype
from .sorting import searchsorted
from .tracing import is_traced, as_traceable, plain_value


def _float(v):
    """v as float64 (complex128 if complex), as arr_interp converts it."""
    v = as_traceable(v)
    dtype = np.complex128 if np.iscomplexobj(plain_value(v)) else np.float64
    return v if v.dtype == dtype else astype(v, dtype)


def _scalar(v):
    v = plain_value(v)
    return v[()] if isinstance(v, np.ndarray) and v.ndim == 0 else v


def interp(x, xp, fp, left=None, right=None, period=None):
    """numpy.interp: NumPy's values; differentiable in x, fp, left and right."""
    if not is_traced(x, fp, left, right, xp, period):
        return np.interp(x, xp, fp, left, right, period)
    if is_traced(xp, period):
        raise NotImplementedError("fastad.numpy.interp differentiates x, fp, left and right; "
                                  "xp and period must be constants (pass their .value)")
    # NumPy's own checks and messages, on the plain values (a 0-d left or right as
    # a scalar: NumPy refuses a complex 0-d array there, not a complex scalar)
    np.interp(plain_value(x), xp, plain_value(fp), _scalar(left), _scalar(right), period)
    x, fp, xp = _float(x), _float(fp), np.asarray(xp, dtype=np.float64)
    if period is not None:
        period = abs(period)
        left = right = None
        x = mod(x, period)
        xp = xp % period
        order = np.argsort(xp)
        xp, fp = xp[order], getitem(fp, order)
        xp = np.concatenate((xp[-1:] - period, xp, xp[0:1] + period))
        fp = concatenate([getitem(fp, slice(-1, None)), fp, getitem(fp, slice(0, 1))])
    n = xp.shape[0]
    j = np.asarray(searchsorted(xp, x, side="right")) - 1
    above = np.asarray(greater(x, xp[-1]))
    missing = np.asarray(isnan(x))
    lo = np.clip(j, 0, max(n - 2, 0))
    hi = np.minimum(lo + 1, n - 1)
    width = xp[hi] - xp[lo]
    # (a width of 0, one sample point or a repeated one, is never interpolated)
    slope = true_divide(subtract(getitem(fp, hi), getitem(fp, lo)), np.where(width == 0, 1.0, width))
    from_left = add(multiply(slope, subtract(x, xp[lo])), getitem(fp, lo))
    from_right = add(multiply(slope, subtract(x, xp[hi])), getitem(fp, hi))
    failed = np.asarray(isnan(from_left)) & ~missing
    if failed.any():
        # NumPy's second try where the first gave NaN (an infinite slope times 0)
        from_left = where(failed, from_right, from_left)
    value = where(j == n - 1, from_right, from_left)
    value = where(j == -1, getitem(fp, 0) if left is None else left, value)
    value = where(above, getitem(fp, -1) if right is None else right, value)
    return where(missing, np.nan, value) if missing.any() else value
