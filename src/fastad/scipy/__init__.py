"""Differentiable SciPy functions (fastad.scipy.special, fastad.scipy.stats,
fastad.scipy.linalg, fastad.scipy.integrate)."""
from . import integrate, linalg, signal, special, stats  # noqa: F401
