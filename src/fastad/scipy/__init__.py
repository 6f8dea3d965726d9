"""Differentiable SciPy functions (fastad.scipy.special)."""
from . import special  # noqa: F401
