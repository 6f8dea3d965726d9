"""Differentiable SciPy functions (fastad.scipy.special, fastad.scipy.stats,
fastad.scipy.linalg, fastad.scipy.integrate)."""
from . import integrate, linalg, special, stats  # noqa: F401
