"""Special functions with fused, numerically stable rules."""
import numpy as np

from . import defprim
from .elementwise import exp, multiply, subtract
from .reductions import _expand, sum


def _logsumexp_fun(a, axis=None, keepdims=False):
    """log(sum(exp(a))) shifted by the maximum: finite for |a| = 1000."""
    a = np.asarray(a)
    if a.size == 0:
        return np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims))
    shift = np.max(a, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0.0)
    out = np.log(np.sum(np.exp(a - shift), axis=axis, keepdims=True)) + shift
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
