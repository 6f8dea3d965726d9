"""Differentiable SciPy functions (fastad.scipy.special, fastad.scipy.stats)."""
from . import special, stats  # noqa: F401
