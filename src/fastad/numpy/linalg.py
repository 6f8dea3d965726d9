"""Differentiable numpy.linalg; names without a rule here are NumPy's own
(plain arrays only: they raise a TypeError on traced values)."""
from numpy.linalg import *  # noqa: F401,F403
from ..ops.linalg import (  # noqa: F401
    det, inv, solve, slogdet, cholesky, matrix_power, norm, eigh, svd, pinv, qr, vector_norm,
    matrix_norm, cond, eigvalsh, svdvals, multi_dot, lstsq, tensorinv, tensorsolve, trace,
    diagonal, outer, cross, vecdot, matrix_transpose, eig, eigvals,
)
from ..ops.products import matmul  # noqa: F401
