"""Special functions with fused, numerically stable rules."""
import numpy as np

from . import defprim
from .elementwise import exp, log, log1p, multiply, subtract
from .reductions import _expand, sum


def _logsumexp_fun(a, axis=None, keepdims=False):
    """log(sum(exp(a))) shifted by the maximum: finite for |a| = 1000."""
    a = np.asarray(a)
    if a.size == 0:
        return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))
    axes = axis if axis is not None else tuple(range(a.ndim))  # (ufunc reductions: no dispatch)
    shift = np.maximum.reduce(a, axes, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    out = np.log(np.add.reduce(np.exp(a - shift), axes, keepdims=True)) + shift
    # [()] turns a 0-d result into a NumPy scalar, as scipy returns
    return out if keepdims else np.squeeze(out, axis=axis)[()]


def _softmax_weights(ans, a, axis, keepdims):
    """exp(a - logsumexp(a)): the softmax, the derivative of logsumexp."""
    return exp(subtract(a, _expand(ans, a, axis, keepdims)))


logsumexp = defprim(
    "logsumexp", _logsumexp_fun,
    vjps=[lambda g, ans, a, axis=None, keepdims=False:
          multiply(_expand(g, a, axis, keepdims), _softmax_weights(ans, a, axis, keepdims))],
    jvps=[lambda t, ans, a, axis=None, keepdims=False:
          sum(multiply(t, _softmax_weights(ans, a, axis, keepdims)), axis=axis, keepdims=keepdims)])


def _expit_fun(x):
    """1 / (1 + exp(-x)) without overflow warnings for large |x|."""
    x = np.asarray(x) if not isinstance(x, float) else x
    if isinstance(x, float):
        return 1.0 / (1.0 + np.exp(-x)) if x >= 0 else np.exp(x) / (1.0 + np.exp(x))
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


expit = defprim(
    "expit", _expit_fun,
    vjps=[lambda g, ans, x: g * (ans * (1.0 - ans))],
    jvps=[lambda t, ans, x: t * (ans * (1.0 - ans))], elementwise=True)


# -- more of scipy.special -----------------------------------------------------------

def _scipy_special():
    try:
        import scipy.special
    except ImportError as exc:  # pragma: no cover - scipy is a test dependency
        raise ImportError("this fastad.scipy.special function needs SciPy: pip install scipy") from exc
    return scipy.special


def _lazy(name):
    def fun(*args, **kwargs):
        return getattr(_scipy_special(), name)(*args, **kwargs)
    fun.__name__ = name
    return fun


def _unary_special(name, rule, reads):
    return defprim(name, _lazy(name), vjps=[rule], jvps=[rule], elementwise=True, saves=[reads])


_SQRT_PI = 1.7724538509055159

erf = _unary_special("erf", lambda g, ans, x: g * ((2.0 / _SQRT_PI) * exp(-(x * x))), (0,))
erfc = _unary_special("erfc", lambda g, ans, x: g * ((-2.0 / _SQRT_PI) * exp(-(x * x))), (0,))
logit = _unary_special("logit", lambda g, ans, x: g / (x * (1.0 - x)), (0,))
gammaln = _unary_special("gammaln", lambda g, ans, x: g * digamma(x), (0,))
digamma = _unary_special("digamma", lambda g, ans, x: g * polygamma(1, x), (0,))

polygamma = defprim(
    "polygamma", _lazy("polygamma"),
    vjps=[None, lambda g, ans, n, x: g * polygamma(n + 1, x)],
    jvps=[None, lambda t, ans, n, x: t * polygamma(n + 1, x)], elementwise=True,
    saves=[(), (0, 1)])


# d/dx x log y = log y everywhere (as in JAX), also at x = 0 where the
# function is defined as 0; d/dy = x / y.
xlogy = defprim(
    "xlogy", _lazy("xlogy"),
    vjps=[lambda g, ans, x, y: g * log(y), lambda g, ans, x, y: g * x / y],
    jvps=[lambda t, ans, x, y: t * log(y), lambda t, ans, x, y: t * x / y],
    elementwise=True, saves=[(1,), (0, 1)])
xlog1py = defprim(
    "xlog1py", _lazy("xlog1py"),
    vjps=[lambda g, ans, x, y: g * log1p(y), lambda g, ans, x, y: g * x / (1.0 + y)],
    jvps=[lambda t, ans, x, y: t * log1p(y), lambda t, ans, x, y: t * x / (1.0 + y)],
    elementwise=True, saves=[(1,), (0, 1)])


def log_softmax(x, axis=None):
    """x - logsumexp(x): finite for |x| = 1000."""
    from .elementwise import subtract
    return subtract(x, logsumexp(x, axis=axis, keepdims=True))


def softmax(x, axis=None):
    """exp(log_softmax(x)), stable for large |x|."""
    return exp(log_softmax(x, axis=axis))
