"""Differentiable scipy.stats densities: norm and multivariate_normal."""
import numpy as np

from .. import numpy as fnp
from ..ops.special import erfc

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
