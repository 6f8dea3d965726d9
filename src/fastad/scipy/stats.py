"""Differentiable scipy.stats distributions: norm, t, gamma, beta, expon,
chi2, poisson, multivariate_normal and dirichlet, each a class of static
methods with SciPy's signatures, defaults and values (loc and scale keywords,
broadcasting, NaN for invalid parameters, SciPy's values outside the
support), written with fastad's functions, so differentiable in x and in
every float parameter, to any order.

The continuous distributions share one recipe (`_Family`): standardise
z = (x - loc) / scale, evaluate the standard form where z is in the support
and the parameters are valid, and fill the rest as SciPy does (-inf, 0 or 1,
NaN).  Outside the support the standard form sees a point inside it instead
of z, so its derivative stays finite and the masked elements pass exactly 0
back to x, loc and scale.  The log cdf and log sf are log(p) where p < 1/2
and log1p(-q) of the complementary probability elsewhere: accurate in both
tails (norm's are log_ndtr, finite far below SciPy's underflow of the cdf).
Every such choice (in the support or not, a valid parameter, which tail) is
a comparison of traced values, so a recorded tape guards it (fd.record
replays only where the choices come out the same).
"""
import numpy as np

from .. import numpy as fnp
from ..ops.special import (betaln, betainc, betaincc, digamma, gammainc, gammaincc, gammaln,
                           log_ndtr, ndtr, ndtri, stdtr, xlogy, xlog1py)
from ..ops.tracing import is_traced, plain_value

_LOG_2PI = 1.8378770664093453
_LOG_2 = 0.6931471805599453
_NORM_ENTROPY = 0.5 * (_LOG_2PI + 1.0)


def _input(v):
    """An argument as the arithmetic takes it: a list or tuple as an array."""
    return fnp.asarray(v) if isinstance(v, (list, tuple)) else v


def _plain(v):
    return np.asarray(plain_value(v))


def _mask(condition):
    """A comparison's result (of traced values: recorded, so that replay guards
    it) as a boolean array."""
    return np.asarray(condition, dtype=bool)


def _scalar(out):
    """A 0-d plain result as a NumPy scalar, as scipy.stats returns it."""
    return out[()] if type(out) is np.ndarray and out.ndim == 0 else out


def _result_dtype(*args):
    """The dtype NumPy gives arithmetic on the arguments (Python scalars weak, as
    NEP 50): float32 data with Python-float parameters stays float32."""
    plain = [a if isinstance(a, (int, float)) and not isinstance(a, bool) else _plain(a)
             for a in args if a is not None]
    dtype = np.result_type(*plain) if plain else np.dtype(np.float64)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def _in_dtype(value, dtype):
    """value in `dtype` where scipy.special promoted a Python float's result to float64."""
    if dtype == np.float32 and np.result_type(plain_value(value)) == np.float64:
        return value.astype(np.float32) if is_traced(value) else np.asarray(value, np.float32)
    return value


def _select(mask, value, fill):
    """`value` where `mask`, the plain `fill` elsewhere (in value's dtype)."""
    if mask.all():
        return value
    dtype = np.result_type(plain_value(value))
    return fnp.where(mask, value, fill.astype(dtype if dtype.kind == "f" else np.float64))


def _inside(mask, z, stand_in):
    """z where `mask`, a point of the support elsewhere: the functions then see
    finite arguments only, and the masked elements send back a zero cotangent."""
    return z if mask.all() else fnp.where(mask, z, stand_in)


def _log_probability(p, q):
    """log p for a probability p whose complement q = 1 - p is known as
    accurately: log p where p < 1/2, log1p(-q) elsewhere."""
    small = _mask(p < 0.5)
    if small.all():
        return fnp.log(p)
    if not small.any():
        return fnp.log1p(-q)
    return fnp.where(small, fnp.log(fnp.where(small, p, 0.5)),
                     fnp.log1p(-fnp.where(small, 0.5, q)))


def _piecewise(first, f, g, x, f_stand_in, g_stand_in):
    """f(x) where the plain mask `first`, g(x) elsewhere (each function seeing
    only points of its own piece)."""
    if first.all():
        return f(x)
    if not first.any():
        return g(x)
    return fnp.where(first, f(fnp.where(first, x, f_stand_in)), g(fnp.where(first, g_stand_in, x)))


class _Family:
    """A continuous distribution in standard form (loc 0, scale 1) on the
    support [lower, upper] (`stand_in` a point inside it), with its log
    density, cdf and sf, optional log cdf and log sf (else from the cdf and
    sf), entropy, and `valid`, the plain test of its shape parameters."""

    def __init__(self, lower, upper, stand_in, logpdf, cdf, sf, entropy, valid=None,
                 logcdf=None, logsf=None):
        self.lower, self.upper, self.stand_in = lower, upper, stand_in
        self.logpdf_standard, self.cdf_standard, self.sf_standard = logpdf, cdf, sf
        self.entropy_standard, self.valid = entropy, valid
        self.logcdf_standard = logcdf or (lambda z, *s: _log_probability(cdf(z, *s), sf(z, *s)))
        self.logsf_standard = logsf or (lambda z, *s: _log_probability(sf(z, *s), cdf(z, *s)))

    def _evaluate(self, standard, x, shapes, loc, scale, closed, fill):
        """standard(z, *shapes) where z is in the support (closed or open) and
        the parameters are valid; fill(z) elsewhere, NaN for invalid ones."""
        shapes = tuple(_input(s) for s in shapes)
        scale = _input(scale)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = (_input(x) - _input(loc)) / scale
            valid = _mask(scale > 0)
            if self.valid is not None:
                valid = valid & self.valid(*shapes)
            if closed:
                inside = _mask(self.lower <= z) & _mask(z <= self.upper)
            else:
                inside = _mask(self.lower < z) & _mask(z < self.upper)
            mask = valid & inside
            value = standard(_inside(mask, z, self.stand_in), *shapes)
            value = _in_dtype(value, _result_dtype(x, loc, scale, *shapes))
            if mask.all():
                return _scalar(value)
            known = valid & ~_mask(fnp.isnan(z))
            return _scalar(_select(mask, value, np.where(known, fill(_mask(z >= self.upper)),
                                                         np.nan)))

    def logpdf(self, x, shapes, loc, scale):
        return self._evaluate(lambda z, *s: self.logpdf_standard(z, *s) - fnp.log(scale),
                              x, shapes, loc, scale, True, lambda above: np.full(above.shape,
                                                                                 -np.inf))

    def pdf(self, x, shapes, loc, scale):
        return fnp.exp(self.logpdf(x, shapes, loc, scale))

    def cdf(self, x, shapes, loc, scale):
        return self._evaluate(self.cdf_standard, x, shapes, loc, scale, False,
                              lambda above: np.where(above, 1.0, 0.0))

    def sf(self, x, shapes, loc, scale):
        return self._evaluate(self.sf_standard, x, shapes, loc, scale, False,
                              lambda above: np.where(above, 0.0, 1.0))

    def logcdf(self, x, shapes, loc, scale):
        return self._evaluate(self.logcdf_standard, x, shapes, loc, scale, False,
                              lambda above: np.where(above, 0.0, -np.inf))

    def logsf(self, x, shapes, loc, scale):
        return self._evaluate(self.logsf_standard, x, shapes, loc, scale, False,
                              lambda above: np.where(above, -np.inf, 0.0))

    def entropy(self, shapes, scale):
        shapes = tuple(_input(s) for s in shapes)
        scale = _input(scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            valid = _mask(scale > 0)
            if self.valid is not None:
                valid = valid & self.valid(*shapes)
            value = _in_dtype(self.entropy_standard(*shapes) + fnp.log(scale),
                              _result_dtype(scale, *shapes))
            return _scalar(_select(valid, value, np.full(valid.shape, np.nan)))


# -- the standard forms ----------------------------------------------------------------

def _t_logpdf(z, df):
    # log(Gamma((df+1)/2) / Gamma(df/2)) as 0.5 log(pi) - betaln(df/2, 1/2): accurate for large df
    def finite(df):
        return -betaln(0.5 * df, 0.5) - 0.5 * fnp.log(df) - 0.5 * (df + 1.0) * fnp.log1p(z * z / df)
    infinite = _mask(fnp.isinf(df))
    if not infinite.any():
        return finite(df)
    normal = -0.5 * z * z - 0.5 * _LOG_2PI  # df = inf: the normal distribution, as SciPy
    return fnp.where(infinite, normal, finite(fnp.where(infinite, 1.0, df)))


def _t_entropy(df):
    def regular(df):
        half, half1 = 0.5 * df, 0.5 * (df + 1.0)
        return half1 * (digamma(half1) - digamma(half)) + 0.5 * fnp.log(df) + betaln(half, 0.5)

    def asymptotic(df):  # SciPy's expansion in 1/df for df >= 100
        r = 1.0 / df
        return _NORM_ENTROPY + r * (1.0 + r * (0.25 + r * (-1.0 / 6 + r * (
            -0.125 + r * (0.3 + r * 0.25)))))
    return _piecewise(_mask(df >= 100), asymptotic, regular, df, 100.0, 1.0)


def _gamma_entropy(a):
    def regular(a):
        return digamma(a) * (1.0 - a) + a + gammaln(a)

    def asymptotic(a):  # SciPy's, for a >= 250, where the regular form cancels
        r = 1.0 / a
        return (0.5 * (1.0 + _LOG_2PI + fnp.log(a))
                + r * (-1.0 / 3 + r * (-1.0 / 12 + r * (-1.0 / 90 + r / 120))))
    return _piecewise(_mask(a < 250), regular, asymptotic, a, 1.0, 250.0)


def _chi2_entropy(df):
    half = 0.5 * df

    def regular(half):
        return half + _LOG_2 + gammaln(half) + (1.0 - half) * digamma(half)

    def asymptotic(half):  # SciPy's, for df / 2 >= 125
        h = 0.5 / half
        return (h * (-2.0 / 3 + h * (-1.0 / 3 + h * (-4.0 / 45 + h / 7.5)))
                + 0.5 * fnp.log(half) + _LOG_2 + 0.5 * (1.0 + _LOG_2PI))
    return _piecewise(_mask(half < 125), regular, asymptotic, half, 1.0, 125.0)


def _beta_entropy(a, b):
    # the regular form, and SciPy's expansions where a or b exceeds about 5e6
    # (the regular form loses digits to cancellation there)
    def regular(a, b):
        return (betaln(a, b) - (a - 1.0) * digamma(a) - (b - 1.0) * digamma(b)
                + (a + b - 2.0) * digamma(a + b))

    def both_large(a, b):
        s = a + b
        log_term = 0.5 * (_LOG_2PI + fnp.log(a) + fnp.log(b) - 3.0 * fnp.log(s) + 1.0)
        t1 = 110.0 / s + 20.0 * s ** -2.0 + s ** -3.0 - 2.0 * s ** -4.0
        t2 = -50.0 / a - 10.0 * a ** -2.0 - a ** -3.0 + a ** -4.0
        t3 = -50.0 / b - 10.0 * b ** -2.0 - b ** -3.0 + b ** -4.0
        return log_term + (t1 + t2 + t3) / 120.0

    def b_large(a, b):
        s = a + b
        t1 = gammaln(a) - (a - 1.0) * digamma(a)
        t2 = (-1.0 / (2 * b) + 1.0 / (12 * b) - b ** -2.0 / 12 - b ** -3.0 / 120 + b ** -4.0 / 120
              + b ** -5.0 / 252 - b ** -6.0 / 252 + 1.0 / s - 1.0 / (12 * s) + s ** -2.0 / 6
              + s ** -3.0 / 120 - s ** -4.0 / 60 - s ** -5.0 / 252 + s ** -6.0 / 126)
        return t1 + t2 + s * fnp.log1p(a / b) + fnp.log(b) - 2.0 * fnp.log(s)

    def threshold(v):
        j = np.floor(np.log10(v))
        return np.where(v != 1.0, (np.floor(v / 10 ** j) + 2) * 10 ** (7 + j), 1000.0)
    ap, bp = np.broadcast_arrays(_plain(a), _plain(b))
    with np.errstate(divide="ignore", invalid="ignore"):
        pieces = [((ap >= 4.96e6) & (bp >= 4.96e6), both_large),
                  ((ap <= 4.9e6) & (bp - ap >= 1e6) & (bp >= threshold(ap)), b_large),
                  ((bp <= 4.9e6) & (ap - bp >= 1e6) & (ap >= threshold(bp)),
                   lambda a, b: b_large(b, a))]
    out = None
    for mask, piece in pieces:
        if mask.any():
            value = piece(fnp.where(mask, a, 1e7), fnp.where(mask, b, 1e7 if piece is both_large
                                                              else 2e7))
            out = value if out is None else fnp.where(mask, value, out)
    used = pieces[0][0] | pieces[1][0] | pieces[2][0]
    if out is None:
        return regular(a, b)
    return fnp.where(used, out, regular(fnp.where(used, 1.0, a), fnp.where(used, 1.0, b)))


def _positive(*shapes):
    out = np.asarray(True)
    for s in shapes:
        out = out & _mask(s > 0)
    return out


_NORM = _Family(
    -np.inf, np.inf, 0.0,
    logpdf=lambda z: -0.5 * z * z - 0.5 * _LOG_2PI,
    cdf=lambda z: ndtr(z), sf=lambda z: ndtr(-z),
    logcdf=lambda z: log_ndtr(z), logsf=lambda z: log_ndtr(-z),
    entropy=lambda: _NORM_ENTROPY)
_T = _Family(
    -np.inf, np.inf, 0.0, logpdf=_t_logpdf,
    cdf=lambda z, df: stdtr(df, z), sf=lambda z, df: stdtr(df, -z),
    entropy=_t_entropy, valid=_positive)
_GAMMA = _Family(
    0.0, np.inf, 1.0,
    logpdf=lambda z, a: xlogy(a - 1.0, z) - z - gammaln(a),
    cdf=lambda z, a: gammainc(a, z), sf=lambda z, a: gammaincc(a, z),
    entropy=_gamma_entropy, valid=_positive)
_BETA = _Family(
    0.0, 1.0, 0.5,
    logpdf=lambda z, a, b: xlog1py(b - 1.0, -z) + xlogy(a - 1.0, z) - betaln(a, b),
    cdf=lambda z, a, b: betainc(a, b, z), sf=lambda z, a, b: betaincc(a, b, z),
    entropy=_beta_entropy, valid=_positive)
_EXPON = _Family(
    0.0, np.inf, 1.0,
    logpdf=lambda z: -z, cdf=lambda z: -fnp.expm1(-z), sf=lambda z: fnp.exp(-z),
    logsf=lambda z: -z, entropy=lambda: 1.0)
_CHI2 = _Family(
    0.0, np.inf, 1.0,
    logpdf=lambda z, df: xlogy(0.5 * df - 1.0, z) - 0.5 * z - gammaln(0.5 * df) - _LOG_2 * 0.5 * df,
    cdf=lambda z, df: gammainc(0.5 * df, 0.5 * z), sf=lambda z, df: gammaincc(0.5 * df, 0.5 * z),
    entropy=_chi2_entropy, valid=_positive)


# -- the distributions ------------------------------------------------------------------

class norm:
    """The normal distribution, differentiable in x, loc and scale.

    >>> float(fastad.scipy.stats.norm.logcdf(-40.0))
    -804.6084420137539
    >>> fastad.grad(fastad.scipy.stats.norm.logpdf, argnum=(0, 1, 2))(1.0, 0.5, 2.0)
    (-0.125, 0.125, -0.46875)
    """

    @staticmethod
    def logpdf(x, loc=0.0, scale=1.0):
        return _NORM.logpdf(x, (), loc, scale)

    @staticmethod
    def pdf(x, loc=0.0, scale=1.0):
        return _NORM.pdf(x, (), loc, scale)

    @staticmethod
    def cdf(x, loc=0.0, scale=1.0):
        return _NORM.cdf(x, (), loc, scale)

    @staticmethod
    def logcdf(x, loc=0.0, scale=1.0):
        return _NORM.logcdf(x, (), loc, scale)

    @staticmethod
    def sf(x, loc=0.0, scale=1.0):
        return _NORM.sf(x, (), loc, scale)

    @staticmethod
    def logsf(x, loc=0.0, scale=1.0):
        return _NORM.logsf(x, (), loc, scale)

    @staticmethod
    def ppf(q, loc=0.0, scale=1.0):
        return _quantile(ndtri(_input(q)), q, loc, scale)

    @staticmethod
    def isf(q, loc=0.0, scale=1.0):
        return _quantile(-ndtri(_input(q)), q, loc, scale)

    @staticmethod
    def entropy(loc=0.0, scale=1.0):
        return _NORM.entropy((), scale)


def _quantile(standard, q, loc, scale):
    """loc + scale * standard (NaN for scale <= 0, as SciPy)."""
    with np.errstate(invalid="ignore"):
        out = _input(loc) + _input(scale) * standard
        valid = np.broadcast_to(_mask(_input(scale) > 0), np.shape(_plain(out)))
        return _scalar(_select(valid, out, np.full(valid.shape, np.nan)))


class t:
    """Student's t distribution with df degrees of freedom (df = inf: the
    normal), differentiable in x, df, loc and scale; the cdf family is not
    differentiable in df (stdtr's derivative there has no rule in autograd or
    JAX either: NotImplementedError).

    >>> float(fastad.scipy.stats.t.cdf(-3.0, 4.0))
    0.019970984035859413
    >>> fastad.grad(fastad.scipy.stats.t.logcdf)(-3.0, 4.0)
    0.98610554469801...
    """

    @staticmethod
    def logpdf(x, df, loc=0.0, scale=1.0):
        return _T.logpdf(x, (df,), loc, scale)

    @staticmethod
    def pdf(x, df, loc=0.0, scale=1.0):
        return _T.pdf(x, (df,), loc, scale)

    @staticmethod
    def cdf(x, df, loc=0.0, scale=1.0):
        return _T.cdf(x, (df,), loc, scale)

    @staticmethod
    def logcdf(x, df, loc=0.0, scale=1.0):
        return _T.logcdf(x, (df,), loc, scale)

    @staticmethod
    def sf(x, df, loc=0.0, scale=1.0):
        return _T.sf(x, (df,), loc, scale)

    @staticmethod
    def logsf(x, df, loc=0.0, scale=1.0):
        return _T.logsf(x, (df,), loc, scale)

    @staticmethod
    def entropy(df, loc=0.0, scale=1.0):
        return _T.entropy((df,), scale)


class gamma:
    """The gamma distribution with shape a, differentiable in x, a, loc and
    scale (the cdf in a through d/da gammainc, as JAX).

    >>> float(fastad.scipy.stats.gamma.cdf(2.0, 1.5))
    0.7385358700508888
    >>> fastad.grad(fastad.scipy.stats.gamma.cdf, argnum=1)(2.0, 1.5)
    -0.277433564208710...
    """

    @staticmethod
    def logpdf(x, a, loc=0.0, scale=1.0):
        return _GAMMA.logpdf(x, (a,), loc, scale)

    @staticmethod
    def pdf(x, a, loc=0.0, scale=1.0):
        return _GAMMA.pdf(x, (a,), loc, scale)

    @staticmethod
    def cdf(x, a, loc=0.0, scale=1.0):
        return _GAMMA.cdf(x, (a,), loc, scale)

    @staticmethod
    def logcdf(x, a, loc=0.0, scale=1.0):
        return _GAMMA.logcdf(x, (a,), loc, scale)

    @staticmethod
    def sf(x, a, loc=0.0, scale=1.0):
        return _GAMMA.sf(x, (a,), loc, scale)

    @staticmethod
    def logsf(x, a, loc=0.0, scale=1.0):
        return _GAMMA.logsf(x, (a,), loc, scale)

    @staticmethod
    def entropy(a, loc=0.0, scale=1.0):
        return _GAMMA.entropy((a,), scale)


class beta:
    """The beta distribution on [0, 1], differentiable in x, a, b, loc and
    scale; the cdf family is not differentiable in a and b (betainc's
    derivative there has no rule in autograd or JAX either:
    NotImplementedError).

    >>> round(float(fastad.scipy.stats.beta.cdf(0.3, 2.0, 3.0)), 12)
    0.3483
    >>> round(fastad.grad(fastad.scipy.stats.beta.cdf)(0.3, 2.0, 3.0), 12)
    1.764
    """

    @staticmethod
    def logpdf(x, a, b, loc=0.0, scale=1.0):
        return _BETA.logpdf(x, (a, b), loc, scale)

    @staticmethod
    def pdf(x, a, b, loc=0.0, scale=1.0):
        return _BETA.pdf(x, (a, b), loc, scale)

    @staticmethod
    def cdf(x, a, b, loc=0.0, scale=1.0):
        return _BETA.cdf(x, (a, b), loc, scale)

    @staticmethod
    def logcdf(x, a, b, loc=0.0, scale=1.0):
        return _BETA.logcdf(x, (a, b), loc, scale)

    @staticmethod
    def sf(x, a, b, loc=0.0, scale=1.0):
        return _BETA.sf(x, (a, b), loc, scale)

    @staticmethod
    def logsf(x, a, b, loc=0.0, scale=1.0):
        return _BETA.logsf(x, (a, b), loc, scale)

    @staticmethod
    def entropy(a, b, loc=0.0, scale=1.0):
        return _BETA.entropy((a, b), scale)


class expon:
    """The exponential distribution on [loc, inf), differentiable in x, loc
    and scale.

    >>> float(fastad.scipy.stats.expon.logcdf(1e-20))
    -46.051701859880914
    >>> fastad.grad(fastad.scipy.stats.expon.logsf, argnum=(0, 2))(3.0, 0.0, 2.0)
    (-0.5, 0.75)
    """

    @staticmethod
    def logpdf(x, loc=0.0, scale=1.0):
        return _EXPON.logpdf(x, (), loc, scale)

    @staticmethod
    def pdf(x, loc=0.0, scale=1.0):
        return _EXPON.pdf(x, (), loc, scale)

    @staticmethod
    def cdf(x, loc=0.0, scale=1.0):
        return _EXPON.cdf(x, (), loc, scale)

    @staticmethod
    def logcdf(x, loc=0.0, scale=1.0):
        return _EXPON.logcdf(x, (), loc, scale)

    @staticmethod
    def sf(x, loc=0.0, scale=1.0):
        return _EXPON.sf(x, (), loc, scale)

    @staticmethod
    def logsf(x, loc=0.0, scale=1.0):
        return _EXPON.logsf(x, (), loc, scale)

    @staticmethod
    def entropy(loc=0.0, scale=1.0):
        return _EXPON.entropy((), scale)


class chi2:
    """The chi-squared distribution with df degrees of freedom,
    differentiable in x, df, loc and scale (the cdf in df through d/da
    gammainc, as JAX).

    >>> float(fastad.scipy.stats.chi2.cdf(3.0, 2.0))
    0.7768698398515702
    >>> fastad.grad(fastad.scipy.stats.chi2.logpdf)(3.0, 2.0)
    -0.5
    """

    @staticmethod
    def logpdf(x, df, loc=0.0, scale=1.0):
        return _CHI2.logpdf(x, (df,), loc, scale)

    @staticmethod
    def pdf(x, df, loc=0.0, scale=1.0):
        return _CHI2.pdf(x, (df,), loc, scale)

    @staticmethod
    def cdf(x, df, loc=0.0, scale=1.0):
        return _CHI2.cdf(x, (df,), loc, scale)

    @staticmethod
    def logcdf(x, df, loc=0.0, scale=1.0):
        return _CHI2.logcdf(x, (df,), loc, scale)

    @staticmethod
    def sf(x, df, loc=0.0, scale=1.0):
        return _CHI2.sf(x, (df,), loc, scale)

    @staticmethod
    def logsf(x, df, loc=0.0, scale=1.0):
        return _CHI2.logsf(x, (df,), loc, scale)

    @staticmethod
    def entropy(df, loc=0.0, scale=1.0):
        return _CHI2.entropy((df,), scale)


# -- the Poisson distribution -----------------------------------------------------------

def _counts(method, k, mu, loc):
    """(k - loc as a plain float array, mu, the plain validity of mu), in one shape."""
    if is_traced(k) or is_traced(loc):
        raise NotImplementedError(
            "poisson.%s is not differentiable with respect to %s (an integer count): pass it as "
            "a constant" % (method, "k" if is_traced(k) else "loc"))
    k = np.asarray(k, dtype=np.float64) - np.asarray(loc)
    mu = _input(mu)
    valid = _mask(mu >= 0)
    shape = np.broadcast_shapes(k.shape, valid.shape)
    return np.broadcast_to(k, shape), mu, np.broadcast_to(valid, shape)


def _counts_fill(k, valid, fill):
    return np.where(valid & ~np.isnan(k), fill, np.nan)


def _poisson_logpmf(k, mu):
    return xlogy(k, mu) - gammaln(k + 1.0) - mu


class poisson:
    """The Poisson distribution with mean mu, differentiable in mu (k and loc
    are integer counts: not differentiable).

    >>> float(fastad.scipy.stats.poisson.cdf(2, 3.5))
    0.32084719886213414
    >>> fastad.grad(fastad.scipy.stats.poisson.logpmf, argnum=1)(2, 4.0)
    -0.5
    """

    @staticmethod
    def logpmf(k, mu, loc=0):
        k, mu, valid = _counts("logpmf", k, mu, loc)
        with np.errstate(invalid="ignore"):
            mask = valid & (k >= 0) & (np.floor(k) == k)
            value = _poisson_logpmf(np.where(mask, k, 0.0), mu)
            return _scalar(_select(mask, value, _counts_fill(k, valid, -np.inf)))

    @staticmethod
    def pmf(k, mu, loc=0):
        return fnp.exp(poisson.logpmf(k, mu, loc))

    @staticmethod
    def cdf(k, mu, loc=0):
        return poisson._tail("cdf", k, mu, loc, lambda k, mu: gammaincc(k + 1.0, mu), 0.0, 1.0)

    @staticmethod
    def sf(k, mu, loc=0):
        return poisson._tail("sf", k, mu, loc, lambda k, mu: gammainc(k + 1.0, mu), 1.0, 0.0)

    @staticmethod
    def logcdf(k, mu, loc=0):
        return poisson._tail("logcdf", k, mu, loc, lambda k, mu: _log_probability(
            gammaincc(k + 1.0, mu), gammainc(k + 1.0, mu)), -np.inf, 0.0)

    @staticmethod
    def logsf(k, mu, loc=0):
        return poisson._tail("logsf", k, mu, loc, lambda k, mu: _log_probability(
            gammainc(k + 1.0, mu), gammaincc(k + 1.0, mu)), 0.0, -np.inf)

    @staticmethod
    def _tail(method, k, mu, loc, standard, below, above):
        """standard(floor(k), mu) for 0 <= k < inf, `below` for k < 0, `above` at inf."""
        k, mu, valid = _counts(method, k, mu, loc)
        with np.errstate(divide="ignore", invalid="ignore"):
            mask = valid & (k >= 0) & np.isfinite(k)
            value = standard(np.floor(np.where(mask, k, 0.0)), mu)
            fill = _counts_fill(k, valid, np.where(k < 0, below, above))
            return _scalar(_select(mask, value, fill))

    @staticmethod
    def entropy(mu):
        """-sum p log p over a window of counts about each mu, at least
        10 sqrt(mu) + 37 to either side (the rest of the sum is below 1e-20).
        The window is chosen at the recorded mu: a recorded tape replays for
        mu within 2 sqrt(mu) + 2 of it (the comparisons below guard that)."""
        mu = _input(mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            valid = _mask(mu >= 0)
            center = np.floor(np.where(valid, _plain(mu), 0.0))
            slack = 2.0 * np.sqrt(center) + 2.0
            _mask(mu >= center - slack), _mask(mu <= center + slack)  # the replay guards
            width = int(12 * np.sqrt(np.max(center + slack, initial=0.0)) + 40)
            k = center + np.arange(-width, width + 1).reshape((-1,) + (1,) * center.ndim)
            logp = _poisson_logpmf(np.maximum(k, 0.0), mu)
            kept = (k >= 0) & _mask(fnp.isfinite(logp))
            terms = fnp.where(kept, fnp.exp(logp) * fnp.where(kept, logp, 0.0), 0.0)
            out = -fnp.sum(terms, axis=0)
            return _scalar(_select(valid, out, np.full(valid.shape, np.nan)))


# -- the multivariate normal distribution ----------------------------------------------

def _mvn_parameters(mean, cov):
    """(dimension, mean vector, covariance matrix) as scipy.stats infers them:
    cov a scalar (times the identity), a vector (the diagonal) or a matrix."""
    mean = None if mean is None else _input(mean)
    cov = 1.0 if cov is None else _input(cov)
    if mean is None:
        dim = 1 if np.ndim(cov) < 2 else np.shape(cov)[0]
        mean = np.zeros(dim)
    else:
        dim = int(np.prod(np.shape(mean), dtype=int))
    if dim == 1:
        mean, cov = fnp.reshape(mean, (1,)), fnp.reshape(cov, (1, 1))
    if np.ndim(mean) != 1 or np.shape(mean)[0] != dim:
        raise ValueError("Array 'mean' must be a vector of length %d." % dim)
    if np.ndim(cov) == 0:
        cov = cov * np.eye(dim)
    elif np.ndim(cov) == 1:
        cov = fnp.diag(cov)
    elif np.ndim(cov) == 2 and np.shape(cov) != (dim, dim):
        rows, cols = np.shape(cov)
        raise ValueError("Array 'cov' must be square if it is two dimensional, but cov.shape = "
                         "%s." % (np.shape(cov),) if rows != cols else
                         "Dimension mismatch: array 'cov' is of shape %s, but 'mean' is a vector "
                         "of length %d." % (np.shape(cov), dim))
    elif np.ndim(cov) > 2:
        raise ValueError("Array 'cov' must be at most two-dimensional, but cov.ndim = %d"
                         % np.ndim(cov))
    return dim, mean, cov


class _Covariance:
    """A covariance matrix as scipy.stats sees it: its eigenvalues (from the
    lower triangle) above 1e6 eps times the largest span the support.  A
    full-rank one is used through slogdet and solve (differentiable); a
    singular one through its pseudo-inverse and pseudo-determinant on the
    support, as plain values (its derivative in cov does not exist: a
    perturbation off the support changes the rank)."""

    def __init__(self, cov, allow_singular, method):
        self.cov = cov
        plain = _plain(cov)
        s, u = np.linalg.eigh(plain)
        factor = 1e3 if plain.dtype == np.float32 else 1e6
        eps = factor * np.finfo(plain.dtype if plain.dtype.kind == "f" else np.float64).eps \
            * np.max(np.abs(s))
        if np.min(s) < -eps:
            raise ValueError("The input matrix must be symmetric positive semidefinite.")
        support = s > eps
        self.rank = int(np.sum(support))
        self.full = self.rank == len(s)
        if not self.full:
            if not allow_singular:
                raise np.linalg.LinAlgError(
                    "When `allow_singular is False`, the input matrix must be symmetric "
                    "positive definite.")
            if is_traced(cov):
                raise NotImplementedError(
                    "multivariate_normal.%s is not differentiable with respect to a singular cov "
                    "(rank %d of %d: a perturbation off its support changes the rank); pass cov "
                    "as a constant" % (method, self.rank, len(s)))
            self.whitening = u[:, support] / np.sqrt(s[support])
            self.null_space = u[:, ~support]
            self.tolerance = 1e3 * eps
            self.log_pdet = np.sum(np.log(s[support]))
        else:
            self.log_pdet = fnp.linalg.slogdet(cov)[1]

    def mahalanobis(self, dev):
        """dev^T cov^+ dev over the last axis of dev."""
        if not self.full:
            return fnp.sum(fnp.matmul(dev, self.whitening) ** 2, axis=-1)
        k = np.shape(dev)[-1]
        flat = fnp.reshape(dev, (-1, k))
        solved = fnp.transpose(fnp.linalg.solve(self.cov, fnp.transpose(flat)))
        return fnp.reshape(fnp.sum(flat * solved, axis=-1), np.shape(dev)[:-1])

    def off_support(self, dev):
        """The plain mask of the points off the support of a singular covariance."""
        squared_residual = fnp.sum(fnp.matmul(dev, self.null_space) ** 2, axis=-1)
        return _mask(squared_residual >= self.tolerance ** 2)


def _squeeze(out):
    out = fnp.squeeze(out)
    return _scalar(out)


class multivariate_normal:
    """The multivariate normal distribution, differentiable in x, mean and
    cov (x of shape (..., k); with allow_singular, a singular cov has
    SciPy's pseudo-inverse and pseudo-determinant on its support and -inf
    off it, differentiable in x and mean).

    >>> cov = numpy.array([[2.0, 0.5], [0.5, 1.0]])
    >>> float(fastad.scipy.stats.multivariate_normal.logpdf(numpy.array([0.3, -0.2]), None, cov))
    -2.1833992460913425
    >>> fastad.grad(fastad.scipy.stats.multivariate_normal.entropy, argnum=1)(None, cov)
    array([[ 0.28571429, -0.14285714],
           [-0.14285714,  0.57142857]])
    """

    @staticmethod
    def logpdf(x, mean=None, cov=1, allow_singular=False):
        dim, mean, cov = _mvn_parameters(mean, cov)
        x = _input(x)
        if np.ndim(x) == 0:
            x = fnp.reshape(x, (1,))
        elif np.ndim(x) == 1:
            x = fnp.reshape(x, (-1, 1) if dim == 1 else (1, -1))
        covariance = _Covariance(cov, allow_singular, "logpdf")
        dev = x - mean
        out = -0.5 * (covariance.rank * _LOG_2PI + covariance.log_pdet
                      + covariance.mahalanobis(dev))
        if not covariance.full:
            off = covariance.off_support(dev)
            if off.any():
                out = fnp.where(off, -np.inf, out)
        return _squeeze(out)

    @staticmethod
    def pdf(x, mean=None, cov=1, allow_singular=False):
        return fnp.exp(multivariate_normal.logpdf(x, mean, cov, allow_singular))

    @staticmethod
    def entropy(mean=None, cov=1):
        """0.5 (rank (log 2 pi + 1) + log pdet cov): a singular cov is allowed, as in SciPy."""
        _, _, cov = _mvn_parameters(mean, cov)
        covariance = _Covariance(cov, True, "entropy")
        return _scalar(0.5 * (covariance.rank * (_LOG_2PI + 1.0) + covariance.log_pdet))


# -- the Dirichlet distribution ---------------------------------------------------------

def _dirichlet_alpha(alpha):
    alpha = _input(alpha)
    plain = _plain(alpha)
    if np.min(plain) <= 0:
        raise ValueError("All parameters must be greater than 0")
    if plain.ndim != 1:
        raise ValueError("Parameter vector 'a' must be one dimensional, but a.shape = %s."
                         % (plain.shape,))
    return alpha


def _dirichlet_points(alpha, x):
    """x of shape (K, ...) (or (K - 1, ...): the last component is 1 - the
    sum), checked on the simplex as scipy.stats checks it."""
    x = _input(x)
    k = np.shape(alpha)[0]
    if np.shape(x)[0] not in (k, k - 1):
        raise ValueError("Vector 'x' must have either the same number of entries as, or one "
                         "entry fewer than, parameter vector 'a', but alpha.shape = %s and "
                         "x.shape = %s." % (np.shape(alpha), np.shape(x)))
    if np.shape(x)[0] == k - 1:
        last = 1.0 - fnp.sum(x, axis=0)
        x = fnp.concatenate([x, fnp.expand_dims(last, 0)])
    plain = _plain(x)
    if np.min(plain) < 0:
        raise ValueError("Each entry in 'x' must be greater than or equal to zero.")
    if np.max(plain) > 1:
        raise ValueError("Each entry in 'x' must be smaller or equal one.")
    small_alpha = np.reshape(_plain(alpha) < 1, (-1,) + (1,) * (plain.ndim - 1))
    if np.any((plain == 0) & small_alpha):
        raise ValueError("Each entry in 'x' must be greater than zero if its alpha is less "
                         "than one.")
    if (np.abs(np.sum(plain, 0) - 1.0) > 10e-10).any():
        raise ValueError("The input vector 'x' must lie within the normal simplex. but "
                         "np.sum(x, 0) = %s." % (np.sum(plain, 0),))
    return x


def _log_multivariate_beta(alpha):
    return fnp.sum(gammaln(alpha)) - gammaln(fnp.sum(alpha))


class dirichlet:
    """The Dirichlet distribution, differentiable in x (on the simplex: the
    components along the first axis of x, as in SciPy) and alpha.

    >>> x, alpha = numpy.array([0.2, 0.3, 0.5]), numpy.array([1.5, 2.0, 3.0])
    >>> float(fastad.scipy.stats.dirichlet.logpdf(x, alpha))
    1.695210995269564
    >>> fastad.grad(fastad.scipy.stats.dirichlet.logpdf)(x, alpha)
    array([2.5       , 3.33333333, 4.        ])
    """

    @staticmethod
    def logpdf(x, alpha):
        alpha = _dirichlet_alpha(alpha)
        x = _dirichlet_points(alpha, x)
        terms = fnp.transpose(xlogy(alpha - 1.0, fnp.transpose(x)))
        return _squeeze(fnp.sum(terms, axis=0) - _log_multivariate_beta(alpha))

    @staticmethod
    def pdf(x, alpha):
        return fnp.exp(dirichlet.logpdf(x, alpha))

    @staticmethod
    def entropy(alpha):
        alpha = _dirichlet_alpha(alpha)
        total = fnp.sum(alpha)
        k = np.shape(alpha)[0]
        return _scalar(_log_multivariate_beta(alpha) + (total - k) * digamma(total)
                       - fnp.sum((alpha - 1.0) * digamma(alpha)))

    @staticmethod
    def mean(alpha):
        alpha = _dirichlet_alpha(alpha)
        return alpha / fnp.sum(alpha)

    @staticmethod
    def var(alpha):
        alpha = _dirichlet_alpha(alpha)
        total = fnp.sum(alpha)
        return alpha * (total - alpha) / (total * total * (total + 1.0))

    @staticmethod
    def rvs(alpha, size=1, random_state=None):
        """SciPy's sampler (plain values: a sample has no derivative), as autograd's."""
        import scipy.stats
        return scipy.stats.dirichlet.rvs(_plain(alpha), size=size, random_state=random_state)
