"""Differentiable scipy.special functions with stable rules."""
from ..ops.special import (  # noqa: F401
    logsumexp, expit, logit, log_softmax, softmax, erf, erfc, gammaln, digamma, polygamma,
    xlogy, xlog1py, psi, gamma, rgamma, gammasgn, beta, betaln, betainc, betaincc, erfinv,
    erfcinv, ndtr, log_ndtr, ndtri, stdtr, i0, i1, iv, ive, j0, j1, jv, jn, y0, y1, yv, yn,
    gammainc, gammaincc, multigammaln,
)
