"""Differentiable scipy.special functions with stable rules."""
from ..ops.special import logsumexp, expit  # noqa: F401
