"""Differentiable scipy.stats densities: norm, multivariate_normal, t,
gamma, beta, expon and poisson (differentiable in x and the parameters)."""
import numpy as np

from .. import numpy as fnp
from ..ops.special import erfc, log_ndtr, gammaln, betaln, xlogy, xlog1py

_LOG_2PI = 1.8378770664093453


class norm:
    """The normal distribution: logpdf, pdf, cdf, differentiable in x, loc
    and scale."""

    @staticmethod
    def logpdf(x, loc=0.0, scale=1.0):
        z = (x - loc) / scale
        return -0.5 * z * z - fnp.log(scale) - 0.5 * _LOG_2PI

    @staticmethod
    def pdf(x, loc=0.0, scale=1.0):
        return fnp.exp(norm.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x, loc=0.0, scale=1.0):
        # erfc keeps the lower tail accurate where 1 + erf would cancel
        return 0.5 * erfc(-(x - loc) / (scale * np.sqrt(2.0)))

    @staticmethod
    def logcdf(x, loc=0.0, scale=1.0):
        return log_ndtr((x - loc) / scale)

    @staticmethod
    def sf(x, loc=0.0, scale=1.0):
        return 0.5 * erfc((x - loc) / (scale * np.sqrt(2.0)))

    @staticmethod
    def logsf(x, loc=0.0, scale=1.0):
        return log_ndtr(-(x - loc) / scale)


class t:
    """Student's t distribution: logpdf and pdf."""

    @staticmethod
    def logpdf(x, df, loc=0.0, scale=1.0):
        z = (x - loc) / scale
        half = 0.5 * (df + 1.0)
        return (gammaln(half) - gammaln(0.5 * df) - 0.5 * fnp.log(df * np.pi) - fnp.log(scale)
                - half * fnp.log1p(z * z / df))

    @staticmethod
    def pdf(x, df, loc=0.0, scale=1.0):
        return fnp.exp(t.logpdf(x, df, loc, scale))


class gamma:
    """The gamma distribution with shape a: logpdf and pdf."""

    @staticmethod
    def logpdf(x, a, loc=0.0, scale=1.0):
        z = (x - loc) / scale
        return xlogy(a - 1.0, z) - z - gammaln(a) - fnp.log(scale)

    @staticmethod
    def pdf(x, a, loc=0.0, scale=1.0):
        return fnp.exp(gamma.logpdf(x, a, loc, scale))


class beta:
    """The beta distribution: logpdf and pdf on (0, 1)."""

    @staticmethod
    def logpdf(x, a, b, loc=0.0, scale=1.0):
        z = (x - loc) / scale
        return xlogy(a - 1.0, z) + xlog1py(b - 1.0, -z) - betaln(a, b) - fnp.log(scale)

    @staticmethod
    def pdf(x, a, b, loc=0.0, scale=1.0):
        return fnp.exp(beta.logpdf(x, a, b, loc, scale))


class expon:
    """The exponential distribution: logpdf and pdf for x >= loc."""

    @staticmethod
    def logpdf(x, loc=0.0, scale=1.0):
        return -(x - loc) / scale - fnp.log(scale)

    @staticmethod
    def pdf(x, loc=0.0, scale=1.0):
        return fnp.exp(expon.logpdf(x, loc, scale))


class poisson:
    """The Poisson distribution: logpmf and pmf, differentiable in mu."""

    @staticmethod
    def logpmf(k, mu, loc=0):
        k = np.asarray(k) - loc
        return xlogy(k, mu) - mu - gammaln(k + 1.0)

    @staticmethod
    def pmf(k, mu, loc=0):
        return fnp.exp(poisson.logpmf(k, mu, loc))


class multivariate_normal:
    """The multivariate normal distribution: logpdf, differentiable in x,
    mean and cov (x of shape (k,) or (n, k))."""

    @staticmethod
    def logpdf(x, mean=None, cov=1.0):
        k = np.shape(x)[-1]
        centered = x if mean is None else x - mean
        cov = fnp.eye(k) * cov if np.ndim(cov) == 0 else cov
        _, logdet = fnp.linalg.slogdet(cov)
        if np.ndim(centered) == 1:
            quad = fnp.dot(centered, fnp.linalg.solve(cov, centered))
        else:
            quad = fnp.sum(centered * fnp.transpose(fnp.linalg.solve(cov, fnp.transpose(centered))),
                           axis=-1)
        return -0.5 * (k * _LOG_2PI + logdet + quad)

    @staticmethod
    def pdf(x, mean=None, cov=1.0):
        return fnp.exp(multivariate_normal.logpdf(x, mean, cov))
