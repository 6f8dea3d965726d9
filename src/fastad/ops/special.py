"""Special functions with fused, numerically stable rules."""
import numpy as np

from . import defprim
from .elementwise import add, exp, log, log1p, multiply, subtract, ieee_divide
from .axes import expand_reduced
from .reductions import sum


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
    return exp(subtract(a, expand_reduced(ans, a, axis, keepdims)))


logsumexp = defprim(
    "logsumexp", _logsumexp_fun,
    vjps=[lambda g, ans, a, axis=None, keepdims=False:
          multiply(expand_reduced(g, a, axis, keepdims), _softmax_weights(ans, a, axis, keepdims))],
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
expit.__doc__ = """The logistic sigmoid 1 / (1 + exp(-x)) (scipy.special.expit, fastad.nn.sigmoid),
without overflow for large |x|; derivative sigmoid(x) (1 - sigmoid(x)).

>>> fastad.nn.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
array([0. , 0.5, 1. ])
>>> fastad.grad(fastad.nn.sigmoid)(0.0)
0.25
"""


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
logit = _unary_special("logit", lambda g, ans, x: ieee_divide(g, x * (1.0 - x)), (0,))
gammaln = _unary_special("gammaln", lambda g, ans, x: g * digamma(x), (0,))
digamma = _unary_special("digamma", lambda g, ans, x: g * polygamma(1, x), (0,))

polygamma = defprim(
    "polygamma", _lazy("polygamma"),
    vjps=[None, lambda g, ans, n, x: g * polygamma(n + 1, x)],
    jvps=[None, lambda t, ans, n, x: t * polygamma(n + 1, x)], elementwise=True,
    saves=[(), (0, 1)])


# d/dx x log y = log y everywhere (as in JAX), also at x = 0 where the
# function is defined as 0; d/dy = x / y.  (Rules divide with ieee_divide:
# on Python floats `/` raises at a pole where NumPy gives inf.)
xlogy = defprim(
    "xlogy", _lazy("xlogy"),
    vjps=[lambda g, ans, x, y: g * log(y), lambda g, ans, x, y: ieee_divide(g * x, y)],
    jvps=[lambda t, ans, x, y: t * log(y), lambda t, ans, x, y: ieee_divide(t * x, y)],
    elementwise=True, saves=[(1,), (0, 1)])
xlog1py = defprim(
    "xlog1py", _lazy("xlog1py"),
    vjps=[lambda g, ans, x, y: g * log1p(y), lambda g, ans, x, y: ieee_divide(g * x, 1.0 + y)],
    jvps=[lambda t, ans, x, y: t * log1p(y), lambda t, ans, x, y: ieee_divide(t * x, 1.0 + y)],
    elementwise=True, saves=[(1,), (0, 1)])


def log_softmax(x, axis=None):
    """x - logsumexp(x) along `axis` (None: over all elements, as in
    scipy.special): finite for |x| = 1000.

    >>> fastad.scipy.special.log_softmax(np.array([1000.0, 1000.0]))
    array([-0.69314718, -0.69314718])
    >>> fastad.grad(lambda x: fastad.scipy.special.log_softmax(x)[0])(np.array([0.0, 0.0]))
    array([ 0.5, -0.5])
    """
    from .elementwise import subtract
    return subtract(x, logsumexp(x, axis=axis, keepdims=True))


def softmax(x, axis=None):
    """exp(log_softmax(x)) along `axis` (None: over all elements), stable
    for large |x|.

    >>> fastad.scipy.special.softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    >>> fastad.scipy.special.softmax(np.array([[0.0, 0.0], [1000.0, 1000.0]]), axis=1)
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    return exp(log_softmax(x, axis=axis))


# -- gamma, beta, error-function inverses, the normal distribution, Bessel --------

_SQRT_2PI = 2.5066282746310002
_LOG_2PI = 1.8378770664093453

psi = digamma
gamma = _unary_special("gamma", lambda g, ans, x: g * (ans * digamma(x)), (-1, 0))
rgamma = _unary_special("rgamma", lambda g, ans, x: -g * (ans * digamma(x)), (-1, 0))
erfinv = _unary_special("erfinv", lambda g, ans, x: g * ((_SQRT_PI / 2.0) * exp(ans * ans)),
                        (-1,))
erfcinv = _unary_special("erfcinv", lambda g, ans, x: g * ((-_SQRT_PI / 2.0) * exp(ans * ans)),
                         (-1,))
ndtr = _unary_special("ndtr", lambda g, ans, x: g * (exp(-0.5 * (x * x)) / _SQRT_2PI), (0,))
# d log Phi(x) = phi(x) / Phi(x), as exp(log phi - log Phi): finite far in the lower tail
log_ndtr = _unary_special(
    "log_ndtr", lambda g, ans, x: g * exp(-0.5 * (x * x) - ans - 0.5 * _LOG_2PI), (-1, 0))
ndtri = _unary_special("ndtri", lambda g, ans, x: g * (_SQRT_2PI * exp(0.5 * (ans * ans))), (-1,))
i0 = _unary_special("i0", lambda g, ans, x: g * i1(x), (0,))
i1 = _unary_special("i1", lambda g, ans, x: g * (0.5 * (i0(x) + iv(2.0, x))), (0,))
j0 = _unary_special("j0", lambda g, ans, x: -g * j1(x), (0,))
j1 = _unary_special("j1", lambda g, ans, x: g * (0.5 * (j0(x) - jv(2.0, x))), (0,))
y0 = _unary_special("y0", lambda g, ans, x: -g * y1(x), (0,))
y1 = _unary_special("y1", lambda g, ans, x: g * (0.5 * (y0(x) - yv(2.0, x))), (0,))


def _underivable(name, argument):
    """The rule of an argument whose derivative fastad does not provide:
    reached only when that argument is traced, it says so instead of
    returning a silent zero."""
    def rule(*args, **kwargs):
        raise NotImplementedError(
            "%s is not differentiable with respect to %s in fastad (pass it as a constant)"
            % (name, argument))
    return rule


def _bessel_order(name, recurrence):
    """A Bessel function of order v (not differentiated) and argument x:
    d/dx C_v = (C_{v-1} -+ C_{v+1}) / 2 by `recurrence`."""
    rule = lambda g, ans, v, x: g * recurrence(v, x)  # noqa: E731
    order = _underivable(name, "its order v")
    return defprim(name, _lazy(name), vjps=[order, rule], jvps=[order, rule], elementwise=True,
                   saves=[(), (0, 1)])


iv = _bessel_order("iv", lambda v, x: 0.5 * (iv(v - 1.0, x) + iv(v + 1.0, x)))
jv = _bessel_order("jv", lambda v, x: 0.5 * (jv(v - 1.0, x) - jv(v + 1.0, x)))
yv = _bessel_order("yv", lambda v, x: 0.5 * (yv(v - 1.0, x) - yv(v + 1.0, x)))


def _beta_rule(first):
    def rule(g, ans, a, b):
        return g * (ans * (digamma(a if first else b) - digamma(a + b)))
    return rule


def _betaln_rule(first):
    def rule(g, ans, a, b):
        return g * (digamma(a if first else b) - digamma(a + b))
    return rule


beta = defprim("beta", _lazy("beta"), vjps=[_beta_rule(True), _beta_rule(False)],
               jvps=[_beta_rule(True), _beta_rule(False)], elementwise=True,
               saves=[(-1, 0, 1), (-1, 0, 1)])
betaln = defprim("betaln", _lazy("betaln"), vjps=[_betaln_rule(True), _betaln_rule(False)],
                 jvps=[_betaln_rule(True), _betaln_rule(False)], elementwise=True,
                 saves=[(0, 1), (0, 1)])


def _gammainc_x(sign):
    """d/dx of the regularized incomplete gamma functions: +-x^(a-1) e^-x / Gamma(a)
    (the derivative in a has no closed form: not provided)."""
    def rule(g, ans, a, x):
        return g * (sign * exp((a - 1.0) * log(x) - x - gammaln(a)))
    return rule


_gammainc_a = _underivable("gammainc", "a")
_gammaincc_a = _underivable("gammaincc", "a")
gammainc = defprim("gammainc", _lazy("gammainc"), vjps=[_gammainc_a, _gammainc_x(1.0)],
                   jvps=[_gammainc_a, _gammainc_x(1.0)], elementwise=True, saves=[(), (0, 1)])
gammaincc = defprim("gammaincc", _lazy("gammaincc"), vjps=[_gammaincc_a, _gammainc_x(-1.0)],
                    jvps=[_gammaincc_a, _gammainc_x(-1.0)], elementwise=True, saves=[(), (0, 1)])


def multigammaln(a, d):
    """log of the multivariate gamma function of dimension d (scipy's)."""
    if not hasattr(a, "tape"):
        return _scipy_special().multigammaln(a, d)
    out = 0.25 * d * (d - 1) * np.log(np.pi)
    for j in range(d):
        out = add(out, gammaln(subtract(a, 0.5 * j)))
    return out
