"""Differentiable scipy.special functions with stable rules."""
from ..ops.special import (  # noqa: F401
    logsumexp, expit, logit, log_softmax, softmax, erf, erfc, gammaln, digamma, polygamma,
    xlogy, xlog1py, psi, gamma, rgamma, beta, betaln, erfinv, erfcinv, ndtr, log_ndtr, ndtri,
    i0, i1, iv, j0, j1, jv, y0, y1, yv, gammainc, gammaincc, multigammaln,
)
