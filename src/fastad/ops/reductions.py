"""Reductions: sum, mean, prod, max, min; and the cumulative sums and
products (cumsum, cumulative_sum, cumprod).

Backward, a reduction broadcasts the cotangent back over the reduced axes
(sum distributes; max routes to the argmax, splitting ties evenly).
"""
import numpy as np

from . import defprim, numpy_versions
from .axes import axis_tuple, expand_reduced
from .elementwise import kink, equal, true_divide
from .shape import broadcast_to, reshape, concatenate
from .tracing import is_traced, asarray
from .. import _tape


def _count(x, axis):
    shape = np.shape(x)
    n = 1
    for a in axis_tuple(axis, len(shape)):
        n *= shape[a]
    return n


def _spread(g, x, axis, keepdims):
    """A reduction's cotangent spread back over x.  Numerically it stays
    unexpanded (the sweep broadcasts it lazily); traced, it is expanded."""
    g = expand_reduced(g, x, axis, keepdims)
    if type(g) is _tape.Array or type(g) is _tape.Scalar:
        return broadcast_to(g, np.shape(x))
    return g


def _sum_vjp(g, ans, x, axis=None, dtype=None, keepdims=False):
    if axis is None and not keepdims and type(g) is float:
        # (the full sum's cotangent, numerically: unexpanded, of ones' shape)
        return np.full((1,) * np.ndim(x), g)
    return _spread(g, x, axis, keepdims)


def _sum_jvp(t, ans, x, axis=None, dtype=None, keepdims=False):
    return sum(t, axis=axis, keepdims=keepdims)


def _sum_fun(x, axis=None, dtype=None, keepdims=False):
    if type(x) is np.ndarray:
        # what numpy.sum does for an ndarray, without its Python-level dispatch
        return np.add.reduce(x, axis, dtype, None, keepdims)
    return np.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)


sum_prim = defprim("sum", _sum_fun, vjps=[_sum_vjp], jvps=[_sum_jvp], saves=[()])


def _mean_fun(x, axis=None, dtype=None, keepdims=False):
    if (type(x) is np.ndarray and dtype is None and x.dtype.kind == "f"
            and x.dtype.itemsize >= 4 and x.size and x.ndim):
        # numpy.mean for float32/float64 without its Python-level layers: the
        # same sum, divided in the array's dtype (NumPy divides in float64 and
        # rounds back, which rounds the same: float64 has the bits to spare).
        # (Not 0-d: numpy.mean refuses axis 0 there, which np.add.reduce takes.)
        total = np.add.reduce(x, axis, None, None, keepdims)
        count = _count(x, axis)
        if type(total) is np.ndarray:
            return np.true_divide(total, count, out=total)
        return total.dtype.type(total / count)
    return np.mean(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _mean_vjp(g, ans, x, axis=None, dtype=None, keepdims=False):
    return _spread(g, x, axis, keepdims) / float(_count(x, axis))


def _mean_jvp(t, ans, x, axis=None, dtype=None, keepdims=False):
    return mean(t, axis=axis, keepdims=keepdims)


mean_prim = defprim("mean", _mean_fun, vjps=[_mean_vjp], jvps=[_mean_jvp], saves=[()])


def _prod_fun(x, axis=None, dtype=None, keepdims=False):
    return np.prod(x, axis=axis, dtype=dtype, keepdims=keepdims)


def _product_of_others(x, axis):
    """d prod(x)/dx_i = prod_{j != i} x_j, computed with exclusive cumulative
    products so that zeros in x give exact results (not ans / 0)."""
    x = np.asarray(x)
    if x.size == 0:
        return np.zeros_like(x)
    axes = axis_tuple(axis, x.ndim)
    moved = np.moveaxis(x, axes, tuple(range(-len(axes), 0)))
    flat = moved.reshape(moved.shape[:moved.ndim - len(axes)] + (-1,))
    ones = np.ones(flat.shape[:-1] + (1,), x.dtype)
    left = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    others = (left * right).reshape(moved.shape)
    return np.moveaxis(others, tuple(range(-len(axes), 0)), axes)


def _others(ans, x, axis, keepdims):
    """d prod(x)/dx, shaped like x."""
    if not is_traced(x):
        # (a float of a traced scalar too: 1 for prod(x) = x, also at x = 0)
        return _product_of_others(x, axis)
    # traced (nested) path: ans / x, exact away from zeros
    return true_divide(expand_reduced(ans, x, axis, keepdims), x)


def _prod_vjp(g, ans, x, axis=None, dtype=None, keepdims=False):
    return expand_reduced(g, x, axis, keepdims) * _others(ans, x, axis, keepdims)


def _prod_jvp(t, ans, x, axis=None, dtype=None, keepdims=False):
    return sum(_others(ans, x, axis, keepdims) * t, axis=axis, keepdims=keepdims)


_prod = defprim("prod", _prod_fun, vjps=[_prod_vjp], jvps=[_prod_jvp])


def _chooser(reduce):
    """max/min: the cotangent goes to the elements equal to the result,
    split evenly among ties (as autograd and JAX)."""
    def fun(x, axis=None, keepdims=False):
        return reduce(x, axis=axis, keepdims=keepdims)

    def indicator(ans, x, axis, keepdims):
        hit = equal(x, expand_reduced(ans, x, axis, keepdims))
        counts = np.sum(hit, axis=axis, keepdims=True)
        return hit / counts

    def vjp(g, ans, x, axis=None, keepdims=False):
        return expand_reduced(g, x, axis, keepdims) * indicator(ans, x, axis, keepdims)

    def jvp(t, ans, x, axis=None, keepdims=False):
        return sum(t * indicator(ans, x, axis, keepdims), axis=axis, keepdims=keepdims)

    return fun, vjp, jvp


_max_fun, _max_vjp, _max_jvp = _chooser(np.max)
_min_fun, _min_vjp, _min_jvp = _chooser(np.min)
_max = kink(defprim("max", _max_fun, vjps=[_max_vjp], jvps=[_max_jvp]),
            lambda x, axis=None, keepdims=False: x == np.max(x, axis=axis, keepdims=True))
_min = kink(defprim("min", _min_fun, vjps=[_min_vjp], jvps=[_min_jvp]),
            lambda x, axis=None, keepdims=False: x == np.min(x, axis=axis, keepdims=True))


def _check_out(name, out):
    if out is not None:
        raise TypeError("fastad.numpy.%s does not support out=; drop the argument" % name)


def _as_array(a):
    """A list or tuple (of traced values, say) as the array NumPy would make."""
    return asarray(a) if type(a) is list or type(a) is tuple else a


def sum(a, axis=None, dtype=None, out=None, keepdims=False):
    """numpy.sum"""
    _check_out("sum", out)
    a = _as_array(a)
    return sum_prim(a, axis=axis, dtype=dtype, keepdims=keepdims) if (dtype or keepdims or axis is not None) else sum_prim(a)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """numpy.mean"""
    _check_out("mean", out)
    a = _as_array(a)
    return mean_prim(a, axis=axis, dtype=dtype, keepdims=keepdims) if (dtype or keepdims or axis is not None) else mean_prim(a)


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    """numpy.prod"""
    _check_out("prod", out)
    a = _as_array(a)
    return _prod(a, axis=axis, dtype=dtype, keepdims=keepdims)


def max(a, axis=None, out=None, keepdims=False):
    """numpy.max (amax)"""
    _check_out("max", out)
    a = _as_array(a)
    return _max(a, axis=axis, keepdims=keepdims)


def min(a, axis=None, out=None, keepdims=False):
    """numpy.min (amin)"""
    _check_out("min", out)
    a = _as_array(a)
    return _min(a, axis=axis, keepdims=keepdims)


amax, amin = max, min


# -- cumulative sums and products ------------------------------------------------

def _reverse_cumsum(g, axis):
    from .manipulation import flip
    return flip(cumsum(flip(g, axis), axis), axis)


def _cumsum_fun(a, axis=None, dtype=None):
    return np.cumsum(a, axis=axis, dtype=dtype)


def _cumsum_vjp(g, ans, a, axis=None, dtype=None):
    if axis is None:
        return reshape(_reverse_cumsum(g, 0), np.shape(a))
    return _reverse_cumsum(g, axis)


_cumsum = defprim("cumsum", _cumsum_fun, vjps=[_cumsum_vjp],
                  jvps=[lambda t, ans, a, axis=None, dtype=None: cumsum(t, axis)], saves=[()])


def cumsum(a, axis=None, dtype=None, out=None):
    """numpy.cumsum"""
    _check_out("cumsum", out)
    return _cumsum(a, axis=axis, dtype=dtype) if (axis is not None or dtype) else _cumsum(a)


def cumulative_sum(x, /, *, axis=None, dtype=None, include_initial=False):
    if not is_traced(x):
        return numpy_versions.cumulative_sum(x, axis=axis, dtype=dtype, include_initial=include_initial)
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


def _cumprod_fun(a, axis=None, dtype=None):
    return np.cumprod(a, axis=axis, dtype=dtype)


def _cumprod_vjp(g, ans, a, axis=None, dtype=None):
    """sum_{j >= i} g_j y_j / x_i; exactly, with zeros in x, by the backward
    recurrence h_i = g_i + x_{i+1} h_{i+1} times the exclusive prefix product."""
    if axis is None:
        return reshape(_cumprod_vjp(reshape(g, (-1,)), reshape(ans, (-1,)),
                                    reshape(a, (-1,)), 0), np.shape(a))
    if type(a) is np.ndarray and type(g) is np.ndarray and not np.all(a):
        x = np.moveaxis(a, axis, 0)
        gg = np.moveaxis(np.broadcast_to(g, np.shape(a)), axis, 0)
        h = np.empty_like(x)
        h[-1] = gg[-1]
        for i in range(len(x) - 2, -1, -1):
            h[i] = gg[i] + x[i + 1] * h[i + 1]
        prefix = np.concatenate([np.ones_like(x[:1]), np.cumprod(x[:-1], axis=0)])
        return np.moveaxis(prefix * h, 0, axis)
    return true_divide(_reverse_cumsum(g * ans, axis), a)


def _cumprod_jvp(t, ans, a, axis=None, dtype=None):
    if axis is None:
        return reshape(_cumprod_jvp(reshape(t, (-1,)), reshape(ans, (-1,)), reshape(a, (-1,)), 0),
                       np.shape(ans))
    return ans * cumsum(true_divide(t, a), axis)


_cumprod = defprim("cumprod", _cumprod_fun, vjps=[_cumprod_vjp], jvps=[_cumprod_jvp])


def cumprod(a, axis=None, dtype=None, out=None):
    """numpy.cumprod (forward mode assumes no zeros in a)"""
    _check_out("cumprod", out)
    return _cumprod(a, axis=axis, dtype=dtype) if (axis is not None or dtype) else _cumprod(a)
