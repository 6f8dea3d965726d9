"""Structured linear systems and the matrix square root, scipy.linalg's:
solve_triangular, solve_banded, solve_sylvester and sqrtm (whose derivative
is a Sylvester equation).  The rules are autograd's
(`autograd/scipy/linalg.py`), plus forward rules for all four; each is
written with these primitives themselves, so they nest.

Only what a solver reads has a derivative: the triangle of a triangular
matrix (without the diagonal when it is taken as unit) and the band of a
banded one; the entries of the banded storage outside the matrix have
zero derivative.  SciPy is imported when a function is first called.
"""
import numpy as np

from . import defprim
from .elementwise import multiply, negative, subtract, where
from .products import matmul
from .reductions import sum
from .shape import expand_dims, swapaxes
from .tracing import is_traced


def _linalg():
    try:
        import scipy.linalg
    except ImportError as exc:  # pragma: no cover - SciPy is a test dependency
        raise ImportError("fastad.scipy.linalg needs SciPy: pip install scipy") from exc
    return scipy.linalg


def _mT(x):
    return swapaxes(x, -1, -2)


def _outer_columns(u, v):
    """u v^T for vectors, u @ v^T for matrices of columns."""
    if np.ndim(v) == 1:
        return multiply(expand_dims(u, -1), expand_dims(v, -2))
    return matmul(u, _mT(v))


# -- solve_triangular --------------------------------------------------------------

def _triangle(n, lower, unit_diagonal):
    """Which entries of an n x n triangular matrix a solver reads."""
    mask = np.tril(np.ones((n, n), bool)) if lower else np.triu(np.ones((n, n), bool))
    if unit_diagonal:
        mask[np.diag_indices(n)] = False
    return mask


def _solve_triangular_fun(a, b, trans=0, lower=False, unit_diagonal=False):
    return _linalg().solve_triangular(a, b, trans=trans, lower=lower,
                                      unit_diagonal=unit_diagonal)


def _st_vjp_a(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    # op(A) x = b  =>  op(A)_bar = -b_bar x^T, with b_bar = op(A)^-T g
    b_bar = triangular_solve(a, g, 1 - trans, lower, unit_diagonal)
    op_bar = negative(_outer_columns(b_bar, ans))
    return where(_triangle(np.shape(a)[-1], lower, unit_diagonal),
                 op_bar if trans == 0 else _mT(op_bar), 0.0)


def _st_vjp_b(g, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    return triangular_solve(a, g, 1 - trans, lower, unit_diagonal)


def _st_jvp_a(t, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    # d x = -op(A)^-1 op(dA) x, dA restricted to what the solver reads
    t = where(_triangle(np.shape(a)[-1], lower, unit_diagonal), t, 0.0)
    return negative(triangular_solve(a, matmul(t if trans == 0 else _mT(t), ans), trans, lower,
                                     unit_diagonal))


def _st_jvp_b(t, ans, a, b, trans=0, lower=False, unit_diagonal=False):
    return triangular_solve(a, t, trans, lower, unit_diagonal)


_solve_triangular = defprim("solve_triangular", _solve_triangular_fun,
                            vjps=[_st_vjp_a, _st_vjp_b], jvps=[_st_jvp_a, _st_jvp_b])


def triangular_solve(a, b, trans, lower, unit_diagonal):
    """x with op(a) x = b, op(a) = a (trans 0) or a^T (trans 1)."""
    return _solve_triangular(a, b, trans=trans, lower=bool(lower),
                             unit_diagonal=bool(unit_diagonal))


_TRANS = {0: 0, "N": 0, 1: 1, "T": 1, 2: 1, "C": 1}


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """scipy.linalg.solve_triangular: x with a x = b (trans 0 or 'N') or
    a^T x = b (1, 'T', or 'C' for real a), reading the lower or upper
    triangle of a (without its diagonal with unit_diagonal): only those
    entries have a derivative.

    >>> a = numpy.array([[2.0, 0.0], [1.0, 4.0]])
    >>> fastad.scipy.linalg.solve_triangular(a, numpy.array([2.0, 9.0]), lower=True)
    array([1., 2.])
    >>> fastad.grad(lambda a: np.sum(fastad.scipy.linalg.solve_triangular(
    ...     a, numpy.array([2.0, 9.0]), lower=True)))(a)
    array([[-0.375,  0.   ],
           [-0.25 , -0.5  ]])
    """
    if not is_traced(a, b):
        return _linalg().solve_triangular(a, b, trans=trans, lower=lower,
                                          unit_diagonal=unit_diagonal, overwrite_b=overwrite_b,
                                          check_finite=check_finite)
    if trans not in _TRANS:
        raise ValueError("solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', got %r"
                         % (trans,))
    return triangular_solve(a, b, _TRANS[trans], lower, unit_diagonal)


# -- solve_banded ------------------------------------------------------------------
# ab (l + u + 1, n) stores A[i, j] at ab[u + i - j, j]; the entries whose i
# falls outside 0..n-1 are not part of A.

def _band_rows(l, u, n):
    """For every storage entry (r, j): the row i = r - u + j of A it holds
    (clipped into range) and whether it holds one."""
    rows = np.arange(l + u + 1)[:, None] - u + np.arange(n)[None, :]
    return np.clip(rows, 0, n - 1), (rows >= 0) & (rows < n)


def _band_transpose(l_and_u, ab):
    """The banded storage of A^T (bandwidths (u, l)): A^T's entry (r, j)
    is ab[l + u - r, r - l + j]."""
    l, u = l_and_u
    n = np.shape(ab)[-1]
    columns, held = _band_rows(u, l, n)
    flipped = np.arange(l + u, -1, -1)[:, None] + np.zeros((1, n), int)
    return (u, l), where(held, ab[flipped, columns], 0.0)


def _solve_banded_fun(l_and_u, ab, b):
    return _linalg().solve_banded(l_and_u, ab, b)


def _banded_vjp_ab(g, ans, l_and_u, ab, b):
    # A_bar = -b_bar x^T on the band, b_bar = A^-T g
    l, u = l_and_u
    b_bar = _solve_banded(*_band_transpose(l_and_u, ab), g)
    rows, held = _band_rows(l, u, np.shape(ab)[-1])
    products = multiply(b_bar[rows], ans)   # [r, j(, k)] = b_bar[i(r, j)(, k)] x[j(, k)]
    if np.ndim(ans) > 1:
        products = sum(products, axis=-1)
    return where(held, negative(products), 0.0)


def _banded_vjp_b(g, ans, l_and_u, ab, b):
    return _solve_banded(*_band_transpose(l_and_u, ab), g)


def _banded_jvp_ab(t, ans, l_and_u, ab, b):
    # d x = -A^-1 dA x; (dA x)[i] = sum_r dab[r, j] x[j] with j = i + u - r
    l, u = l_and_u
    n = np.shape(ab)[-1]
    offsets = np.arange(n)[None, :] + u - np.arange(l + u + 1)[:, None]
    columns, held = np.clip(offsets, 0, n - 1), (offsets >= 0) & (offsets < n)
    band = t[np.arange(l + u + 1)[:, None], columns]
    if np.ndim(ans) > 1:
        band, held = expand_dims(band, -1), held[..., None]
    products = where(held, multiply(band, ans[columns]), 0.0)
    return negative(_solve_banded(l_and_u, ab, sum(products, axis=0)))


def _banded_jvp_b(t, ans, l_and_u, ab, b):
    return _solve_banded(l_and_u, ab, t)


_solve_banded = defprim("solve_banded", _solve_banded_fun,
                        vjps=[None, _banded_vjp_ab, _banded_vjp_b],
                        jvps=[None, _banded_jvp_ab, _banded_jvp_b])


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """scipy.linalg.solve_banded: x with A x = b, A banded with l
    subdiagonals and u superdiagonals and stored as ab[u + i - j, j] =
    A[i, j]; the entries of ab outside A have zero derivative.

    >>> ab = numpy.array([[0.0, 1.0, 1.0],     # superdiagonal (ab[0, 0] unused)
    ...                   [4.0, 4.0, 4.0],     # diagonal
    ...                   [1.0, 1.0, 0.0]])    # subdiagonal (ab[2, -1] unused)
    >>> fastad.scipy.linalg.solve_banded((1, 1), ab, numpy.array([5.0, 6.0, 5.0]))
    array([1., 1., 1.])
    >>> fastad.grad(lambda b: np.sum(fastad.scipy.linalg.solve_banded((1, 1), ab, b)))(
    ...     numpy.array([5.0, 6.0, 5.0]))
    array([0.21428571, 0.14285714, 0.21428571])
    """
    if not is_traced(ab, b):
        return _linalg().solve_banded(l_and_u, ab, b, overwrite_ab=overwrite_ab,
                                      overwrite_b=overwrite_b, check_finite=check_finite)
    l, u = (int(k) for k in l_and_u)
    return _solve_banded((l, u), ab, b)


# -- solve_sylvester and sqrtm -------------------------------------------------------

def _sylvester_fun(a, b, q):
    return _linalg().solve_sylvester(a, b, q)


def _sylvester_q_bar(g, a, b):
    # A X + X B = Q  =>  Q_bar solves A^T Q_bar + Q_bar B^T = X_bar
    return _solve_sylvester(_mT(a), _mT(b), g)


def _sylvester_jvp(ta, tb, tq, ans, a, b):
    # A dX + dX B = dQ - dA X - X dB
    rhs = tq if tq is not None else 0.0
    if ta is not None:
        rhs = subtract(rhs, matmul(ta, ans))
    if tb is not None:
        rhs = subtract(rhs, matmul(ans, tb))
    return _solve_sylvester(a, b, rhs)


_solve_sylvester = defprim(
    "solve_sylvester", _sylvester_fun,
    vjps=[lambda g, ans, a, b, q: negative(matmul(_sylvester_q_bar(g, a, b), _mT(ans))),
          lambda g, ans, a, b, q: negative(matmul(_mT(ans), _sylvester_q_bar(g, a, b))),
          lambda g, ans, a, b, q: _sylvester_q_bar(g, a, b)],
    jvps=[lambda t, ans, a, b, q: _sylvester_jvp(t, None, None, ans, a, b),
          lambda t, ans, a, b, q: _sylvester_jvp(None, t, None, ans, a, b),
          lambda t, ans, a, b, q: _sylvester_jvp(None, None, t, ans, a, b)])


def solve_sylvester(a, b, q):
    """scipy.linalg.solve_sylvester: X with A X + X B = Q (A and -B with
    no eigenvalue in common), differentiable in all three.

    >>> a, b = numpy.diag([1.0, 2.0]), numpy.diag([3.0, 4.0])
    >>> fastad.scipy.linalg.solve_sylvester(a, b, numpy.ones((2, 2)))   # 1 / (a_i + b_j)
    array([[0.25      , 0.2       ],
           [0.2       , 0.16666667]])
    >>> fastad.grad(lambda q: np.sum(fastad.scipy.linalg.solve_sylvester(a, b, q)))(
    ...     numpy.ones((2, 2)))
    array([[0.25      , 0.2       ],
           [0.2       , 0.16666667]])
    """
    return _solve_sylvester(a, b, q)


def _sqrtm_fun(a):
    return _linalg().sqrtm(a)


# X X = A  =>  X dX + dX X = dA, and A_bar solves X^T A_bar + A_bar X^T = X_bar
_sqrtm = defprim("sqrtm", _sqrtm_fun,
                 vjps=[lambda g, ans, a: _solve_sylvester(_mT(ans), _mT(ans), g)],
                 jvps=[lambda t, ans, a: _solve_sylvester(ans, ans, t)])


def sqrtm(A, disp=True, blocksize=64):
    """scipy.linalg.sqrtm: the principal square root X of A (X X = A),
    differentiable where it is real (A with no eigenvalue on the closed
    negative real axis).

    >>> fastad.scipy.linalg.sqrtm(numpy.array([[4.0, 0.0], [0.0, 9.0]]))
    array([[2., 0.],
           [0., 3.]])
    >>> fastad.grad(lambda a: fastad.scipy.linalg.sqrtm(a)[1, 1])(numpy.diag([4.0, 9.0]))
    array([[0.        , 0.        ],
           [0.        , 0.16666667]])
    """
    if not disp:
        raise NotImplementedError("fastad.scipy.linalg.sqrtm: disp=False (the error estimate) "
                                  "is not supported")
    return _sqrtm(A)
