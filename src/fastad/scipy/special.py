"""Differentiable scipy.special functions with stable rules."""
from ..ops.special import (  # noqa: F401
    logsumexp, expit, logit, log_softmax, softmax, erf, erfc, gammaln, digamma, polygamma,
    xlogy, xlog1py,
)
