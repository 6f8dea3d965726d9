"""NumPy's newer functions on the older NumPy releases fastad supports.

fastad runs on NumPy >= 1.26.  The op table computes plain (untraced) input
with NumPy itself; where a function is newer than the NumPy installed
(`trapezoid`, `vecdot`, `cumulative_sum`, `unstack`, `matrix_transpose`,
`linalg.vector_norm`, `linalg.matrix_norm`, `linalg.svdvals`: NumPy 2.0 and
2.1; `matvec`, `vecmat`: 2.2), the definition below computes the same
values from the older functions.  Each name is NumPy's own where it exists.
"""
import operator

import numpy as np

try:
    from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
except ImportError:  # NumPy < 2.0
    from numpy.core.numeric import normalize_axis_index, normalize_axis_tuple


def _newer(name, module=np):
    """Decorator: NumPy's `name` where this NumPy has it, else the function."""
    def pick(fallback):
        return getattr(module, name, fallback)
    return pick


@_newer("trapezoid")
def trapezoid(y, x=None, dx=1.0, axis=-1):
    return np.trapz(y, x=x, dx=dx, axis=normalize_axis_index(axis, np.ndim(y)))


@_newer("vecdot")
def vecdot(x1, x2, /, *, axis=-1):
    x1, x2 = np.asarray(x1), np.asarray(x2)
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError("vecdot: both operands need at least one dimension")
    product = np.conj(x1) * x2
    # numpy.vecdot's axis is one integer (TypeError for a tuple, which sum
    # would take), inside the operands' dimensions (AxisError)
    return np.sum(product, axis=normalize_axis_index(operator.index(axis), product.ndim))


@_newer("matvec")
def matvec(x1, x2, /):
    return np.matmul(x1, np.asarray(x2)[..., None])[..., 0]


@_newer("vecmat")
def vecmat(x1, x2, /):
    return np.matmul(np.conj(np.asarray(x1))[..., None, :], x2)[..., 0, :]


@_newer("cumulative_sum")
def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    x = np.asarray(x)
    if axis is None:
        if x.ndim > 1:
            raise ValueError("cumulative_sum needs an axis for arrays of more than one "
                             "dimension")
        axis = 0
    out = np.cumsum(x, axis=axis, dtype=dtype)
    if include_initial:
        shape = list(out.shape)
        shape[axis] = 1
        out = np.concatenate([np.zeros(shape, out.dtype), out], axis=axis)
    return out


@_newer("unstack")
def unstack(x, /, *, axis=0):
    return tuple(np.moveaxis(np.asarray(x), axis, 0))


@_newer("matrix_transpose")
def matrix_transpose(x, /):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("matrix_transpose needs an array of at least two dimensions, got %d"
                         % x.ndim)
    return np.swapaxes(x, -1, -2)


@_newer("vector_norm", np.linalg)
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    x = np.asarray(x)
    if axis is None:
        out = np.linalg.norm(x.ravel(), ord=ord)
        return np.reshape(out, (1,) * x.ndim) if keepdims else out
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = normalize_axis_tuple(axes, x.ndim)
    moved = np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
    out = np.linalg.norm(moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,)), ord=ord,
                         axis=-1)
    if keepdims:
        out = out.reshape(tuple(1 if k in axes else n for k, n in enumerate(x.shape)))
    return out


@_newer("matrix_norm", np.linalg)
def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    return np.linalg.norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


@_newer("svdvals", np.linalg)
def svdvals(x, /):
    return np.linalg.svd(x, compute_uv=False)


# -- NumPy 1.x's `**` ------------------------------------------------------------------

#: The ufuncs NumPy 1.x's `x ** c` computes a float array x with, by the value
#: of a constant real exponent c (ndarray.__pow__'s fast paths), where
#: numpy.power(x, c) runs its general loop, which rounds differently (its
#: SIMD pow: numpy.power(x, 2) is not x * x in the last bit).  NumPy 2's
#: power loop takes these exponents itself, so there `**` is numpy.power.
#: (0, computed as ones_like, gives numpy.power's ones.)
POWER_OPERATOR_UFUNCS = ({} if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else
                         {2: "square", 0.5: "sqrt", -1: "reciprocal", 1: "positive"})


def power_operator_ufunc(exponent):
    """The name of the ufunc NumPy's `x ** exponent` computes a float array x
    with instead of numpy.power, or None: on NumPy 1.x for a Python or NumPy
    integer or float, or such an array of no dimensions, of 2, 0.5, -1 or 1."""
    if not POWER_OPERATOR_UFUNCS:
        return None
    if isinstance(exponent, np.ndarray):
        if exponent.ndim or exponent.dtype.kind not in "iuf":
            return None
        exponent = exponent[()]
    elif not isinstance(exponent, (int, float, np.integer, np.floating)):
        return None
    return POWER_OPERATOR_UFUNCS.get(exponent)
