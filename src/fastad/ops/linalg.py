"""Linear algebra with the matrix-calculus rules, batched over leading axes
as numpy.linalg is."""
import numpy as np

from . import defprim
from .elementwise import multiply, negative
from .products import matmul
from .reductions import sum
from .shape import expand_dims, swapaxes


def _mT(x):
    return swapaxes(x, -1, -2)


def _inv_vjp(g, ans, x):
    # d X^-1 = -X^-1 dX X^-1  =>  X_bar = -X^-T G X^-T
    return negative(matmul(_mT(ans), matmul(g, _mT(ans))))


def _inv_jvp(t, ans, x):
    return negative(matmul(ans, matmul(t, ans)))


inv = defprim("inv", np.linalg.inv, vjps=[_inv_vjp], jvps=[_inv_jvp])


def _expand_matrix(v):
    """A batch of scalars as a batch of 1x1 matrices, to scale matrices."""
    return expand_dims(expand_dims(v, -1), -1)


def _det_vjp(g, ans, x):
    # d det X = det X <X^-T, dX>
    return multiply(_expand_matrix(multiply(g, ans)), _mT(inv(x)))


def _det_jvp(t, ans, x):
    return multiply(ans, sum(multiply(_mT(inv(x)), t), axis=(-2, -1)))


det = defprim("det", np.linalg.det, vjps=[_det_vjp], jvps=[_det_jvp])
