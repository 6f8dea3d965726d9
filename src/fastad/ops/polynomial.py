"""Polynomials (as numpy/lib/_polynomial_impl.py): polyval, differentiable
in the coefficients and the points.
"""
import numpy as np

from .elementwise import add, multiply
from .shape import getitem
from .tracing import is_traced, plain_value


def polyval(p, x):
    """numpy.polyval by Horner's rule, as NumPy evaluates it."""
    if not is_traced(p, x):
        return np.polyval(p, x)
    y = np.zeros_like(np.asanyarray(plain_value(x)))  # (NumPy's start, and so its dtype)
    coefficients = [getitem(p, i) for i in range(np.shape(p)[0])] if is_traced(p) else list(p)
    for pv in coefficients:
        y = add(multiply(y, x), pv)
    return y
