"""Differentiable NumPy: `import fastad.numpy as np`.

The same names, signatures and broadcasting as `numpy`.  Called on plain
arrays a function returns NumPy's result; called on traced values (inside
fastad.grad and the other operators) it records onto the tape.  Names
without a differentiation rule are NumPy's own: they work on plain arrays
and raise a TypeError naming the problem when given a traced value.
"""
import numpy as _np
from numpy import *  # noqa: F401,F403  plain re-exports (array creation, dtypes, constants)
from numpy import random, newaxis, pi, e, inf, nan, float64, float32  # noqa: F401

from .. import _tape
from ..ops.elementwise import (  # noqa: F401
    negative, absolute, abs, sign, square, sqrt, cbrt, reciprocal,
    exp, exp2, expm1, log, log1p, log2, log10,
    sin, cos, tan, arcsin, arccos, arctan, sinh, cosh, tanh,
    arcsinh, arccosh, arctanh,
    add, subtract, multiply, divide, true_divide, power, maximum, minimum,
    arctan2, hypot, less, less_equal, greater, greater_equal, equal, not_equal,
    logical_and, logical_or, logical_not, isfinite, isnan, isinf,
    floor, ceil, floor_divide, mod, remainder, where, clip,
    logaddexp, logaddexp2, deg2rad, rad2deg, radians, degrees, positive, fabs, fmax, fmin,
    sinc, nan_to_num, around, rint, trunc, fix, fmod, copysign, float_power, ldexp, heaviside,
    signbit, spacing, logical_xor, real, imag, conj, conjugate, real_if_close, angle,
)
from ..ops.elementwise import (  # noqa: F401  NumPy 2's names
    arccos as acos, arccosh as acosh, arcsin as asin, arcsinh as asinh, arctan as atan,
    arctanh as atanh, arctan2 as atan2, power as pow,
)
from ..ops.elementwise import round_ as round  # noqa: F401  (numpy.round)
from ..ops.composite import (  # noqa: F401
    repeat, tile, flip, fliplr, flipud, roll, rot90, triu, tril,
    diag, atleast_1d, atleast_2d, atleast_3d, vstack, row_stack, hstack,
    dstack, column_stack, array_split, split, hsplit, vsplit, dsplit, pad, kron, cross,
    zeros_like, ones_like, full_like,
)
from ..ops.reductions import sum, mean, prod, max, min, amax, amin, cumsum, cumprod  # noqa: F401
from ..ops import fused as _fused  # noqa: F401  (registers the fused programs)
from ..ops.shape import (  # noqa: F401
    reshape, ravel, squeeze, expand_dims, transpose, swapaxes, moveaxis,
    broadcast_to, concatenate, stack, subscript as _getitem, astype as _astype,
)
from ..ops.extras import (  # noqa: F401
    permute_dims, matrix_transpose, concat, unstack, cumulative_sum, vecdot, matvec, vecmat,
    append, linspace, logspace, diagflat, broadcast_arrays, meshgrid, r_, c_, copy,
)
from ..ops.logic import (  # noqa: F401
    allclose, isclose, array_equal, array_equiv, isposinf, isneginf, iscomplex, isreal,
    iscomplexobj, isrealobj, result_type,
)
from ..ops.sorting import (  # noqa: F401
    sort, argsort, partition, argmax, argmin, searchsorted, digitize, argwhere, flatnonzero,
    count_nonzero,
)
from ..ops.indexing import take, take_along_axis, diagonal, trace, select  # noqa: F401
from ..ops.statistics import var, std, average, median, ptp  # noqa: F401
from ..ops.nanfunctions import (  # noqa: F401
    nansum, nanprod, nanmean, nanmax, nanmin, nanvar, nanstd,
)
from ..ops.polynomial import polyval  # noqa: F401
from ..ops.differences import diff, trapezoid  # noqa: F401
import importlib as _importlib
# `from numpy import *` bound numpy.linalg to this name: load ours explicitly
linalg = _importlib.import_module(__name__ + ".linalg")
from ..ops.products import dot, matmul, tensordot, inner, outer, vdot, einsum  # noqa: F401

_TRACED = (_tape.Scalar, _tape.Array)


def _contains_traced(obj):
    if type(obj) in _TRACED:
        return True
    if isinstance(obj, (list, tuple)):
        return any(_contains_traced(o) for o in obj)
    return False


def array(object, dtype=None, *args, **kwargs):
    """numpy.array; a (nested) list holding traced values becomes a traced
    array built by stacking."""
    if type(object) in _TRACED:
        return object if dtype is None else object.astype(dtype)
    if isinstance(object, (list, tuple)) and _contains_traced(object):
        out = stack([array(o) for o in object])
        return out if dtype is None else out.astype(dtype)
    return _np.array(object, dtype, *args, **kwargs)


def asarray(a, dtype=None, *args, **kwargs):
    """numpy.asarray; traced values pass through."""
    if type(a) in _TRACED or (isinstance(a, (list, tuple)) and _contains_traced(a)):
        return array(a, dtype)
    return _np.asarray(a, dtype, *args, **kwargs)


def shape(a):
    return a.shape if type(a) in _TRACED else _np.shape(a)


def ndim(a):
    return a.ndim if type(a) in _TRACED else _np.ndim(a)


def size(a, axis=None):
    if type(a) in _TRACED:
        return a.size if axis is None else a.shape[axis]
    return _np.size(a, axis)


