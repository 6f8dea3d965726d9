"""Differentiable numpy.linalg: det and inv so far; other names are NumPy's
own (plain arrays only)."""
from numpy.linalg import *  # noqa: F401,F403
from ..ops.linalg import det, inv  # noqa: F401
