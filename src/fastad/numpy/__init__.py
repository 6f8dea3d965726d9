"""Differentiable NumPy: `import fastad.numpy as np`.

The same names, signatures and broadcasting as `numpy`.  Called on plain
arrays a function returns NumPy's result; called on traced values (inside
fastad.grad and the other operators) it records onto the tape.  Names
without a differentiation rule are NumPy's own: they work on plain arrays
and raise a TypeError naming the problem when given a traced value.
"""
from numpy import *  # noqa: F401,F403  plain re-exports (array creation, dtypes, constants)
from numpy import random, newaxis, pi, e, inf, nan, float64, float32  # noqa: F401

from ..ops.elementwise import (  # noqa: F401
    negative, absolute, abs, sign, square, sqrt, cbrt, reciprocal,
    exp, exp2, expm1, log, log1p, log2, log10,
    sin, cos, tan, arcsin, arccos, arctan, sinh, cosh, tanh,
    arcsinh, arccosh, arctanh,
    add, subtract, multiply, divide, true_divide, power, maximum, minimum,
    arctan2, hypot, less, less_equal, greater, greater_equal, equal, not_equal,
    logical_and, logical_or, logical_not, isfinite, isnan, isinf,
    floor, ceil, floor_divide, mod, remainder, clip,
    logaddexp, logaddexp2, deg2rad, rad2deg, radians, degrees, positive, fabs, fmax, fmin,
    sinc, nan_to_num, around, rint, trunc, fix, fmod, copysign, float_power, ldexp, heaviside,
    signbit, spacing, logical_xor, real, imag, conj, conjugate, real_if_close, angle,
)
from ..ops.elementwise import (  # noqa: F401  NumPy 2's names
    arccos as acos, arccosh as acosh, arcsin as asin, arcsinh as asinh, arctan as atan,
    arctanh as atanh, arctan2 as atan2, power as pow,
)
from ..ops.elementwise import round_ as round  # noqa: F401  (numpy.round)
from ..ops.elementwise import power_operator as _power_operator  # noqa: F401  (Array's **)
from ..ops.reductions import (  # noqa: F401
    sum, mean, prod, max, min, amax, amin, cumsum, cumprod, cumulative_sum,
)
from ..ops import fused as _fused  # noqa: F401  (registers the fused programs)
from ..ops.shape import (  # noqa: F401
    reshape, ravel, squeeze, expand_dims, transpose, swapaxes, moveaxis,
    broadcast_to, concatenate, stack, subscript as _getitem, astype as _astype, astype,
)
from ..ops.products import (  # noqa: F401
    dot, matmul, tensordot, inner, outer, vdot, einsum, kron, cross, vecdot, matvec, vecmat,
)
from ..ops.logic import (  # noqa: F401
    allclose, isclose, array_equal, array_equiv, isposinf, isneginf, iscomplex, isreal,
    iscomplexobj, isrealobj, result_type,
)
from ..ops.sorting import (  # noqa: F401
    sort, argsort, partition, argpartition, argmax, argmin, searchsorted, digitize, argwhere,
    flatnonzero, count_nonzero,
)
from ..ops.tracing import array, asarray  # noqa: F401
from ..ops.creation import (  # noqa: F401
    full, zeros_like, ones_like, empty_like, full_like, copy, linspace, logspace, meshgrid, diag,
    diagflat, make_diagonal, triu, tril, r_, c_,
)
from ..ops.manipulation import (  # noqa: F401
    shape, ndim, size, atleast_1d, atleast_2d, atleast_3d, broadcast_arrays, permute_dims,
    rollaxis, matrix_transpose, concat, vstack, row_stack, hstack, dstack, column_stack, block,
    array_split, split, hsplit, vsplit, dsplit, unstack, tile, repeat, append, insert, delete,
    flip, fliplr, flipud, roll, rot90,
)
from ..ops.padding import pad  # noqa: F401
from ..ops.indexing import where, take, take_along_axis, diagonal, trace, select  # noqa: F401
from ..ops.statistics import (  # noqa: F401
    var, std, average, median, quantile, percentile, ptp, cov, corrcoef,
)
from ..ops.nanfunctions import (  # noqa: F401
    nansum, nanprod, nanmean, nanmax, nanmin, nanvar, nanstd,
)
from ..ops.polynomial import polyval  # noqa: F401
from ..ops.differences import diff, gradient, trapezoid  # noqa: F401
from ..ops.interpolation import interp  # noqa: F401
from ..ops.convolution import convolve  # noqa: F401
import importlib as _importlib
# `from numpy import *` bound numpy.linalg to this name: load ours explicitly
linalg = _importlib.import_module(__name__ + ".linalg")
fft = _importlib.import_module(__name__ + ".fft")
