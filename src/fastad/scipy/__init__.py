"""Differentiable SciPy functions (fastad.scipy.special, fastad.scipy.stats,
fastad.scipy.linalg)."""
from . import linalg, special, stats  # noqa: F401
