"""Differentiable scipy.linalg: `solve_triangular`, `solve_banded`,
`solve_sylvester` and `sqrtm` (fastad.ops.matrix_equations, autograd's
rules), and scipy.linalg's names for what fastad.numpy.linalg
differentiates: `det`, `inv`, `solve`, `cholesky`, `eigh`, `eigvalsh`,
`svd`, `svdvals`, `qr`, `norm`.

Called on plain arrays each is SciPy's own function with every argument
it takes.  On traced values SciPy's options map onto fastad's operations:
`overwrite_*` and `check_finite` have no effect, and a matrix SciPy reads
one triangle of (`assume_a='sym'`, `'her'` or `'pos'`, `cholesky`, `eigh`;
the `lower` flag says which) has derivatives in that triangle only, as
SciPy never reads the other.  An option without a mapping raises
NotImplementedError naming it.  SciPy's other names are SciPy's own
functions (plain arrays only), looked up on first use.
"""
from ..ops import linalg as _numpy_linalg
from ..ops.creation import tril, triu
from ..ops.elementwise import add
from ..ops.matrix_equations import (  # noqa: F401
    solve_banded, solve_sylvester, solve_triangular, sqrtm,
)
from ..ops.shape import swapaxes
from ..ops.tracing import is_traced

__all__ = ["solve_triangular", "solve_banded", "solve_sylvester", "sqrtm", "det", "inv",
           "solve", "cholesky", "eigh", "eigvalsh", "svd", "svdvals", "qr", "norm"]


def _scipy(name):
    try:
        import scipy.linalg
    except ImportError as exc:  # pragma: no cover - SciPy is a test dependency
        raise ImportError("fastad.scipy.linalg needs SciPy: pip install scipy") from exc
    return getattr(scipy.linalg, name)


def _mT(x):
    return swapaxes(x, -1, -2)


_GENERAL = (None, "gen", "general")
_SYMMETRIC = ("sym", "symmetric", "her", "hermitian", "pos", "positive definite")


def _as_read(a, assume_a, lower, name):
    """The matrix SciPy's solver sees: a itself, or the symmetric matrix
    its lower (or upper) triangle makes."""
    if assume_a in _GENERAL:
        return a
    if assume_a in _SYMMETRIC:
        if lower:
            return add(tril(a), _mT(tril(a, -1)))
        return add(triu(a), _mT(triu(a, 1)))
    raise NotImplementedError("fastad.scipy.linalg.%s: assume_a=%r is not differentiated; "
                              "use assume_a='gen', 'sym' or 'pos'" % (name, assume_a))


def _unsupported(name, **options):
    """NotImplementedError for the first option given that fastad does not map."""
    for key, (value, default) in options.items():
        if value is not default and not (isinstance(value, (bool, int, str)) and value == default):
            shown = ("an array of shape %s" % (value.shape,) if hasattr(value, "shape")
                     else repr(value))
            raise NotImplementedError("fastad.scipy.linalg.%s: %s=%s is not differentiated"
                                      % (name, key, shown))


def det(a, overwrite_a=False, check_finite=True):
    """scipy.linalg.det.

    >>> fastad.grad(fastad.scipy.linalg.det)(numpy.array([[2.0, 1.0], [1.0, 3.0]]))
    array([[ 3., -1.],
           [-1.,  2.]])
    """
    if not is_traced(a):
        return _scipy("det")(a, overwrite_a=overwrite_a, check_finite=check_finite)
    return _numpy_linalg.det(a)


def inv(a, overwrite_a=False, check_finite=True, **kwargs):
    """scipy.linalg.inv (with SciPy 1.17's assume_a and lower).

    >>> fastad.grad(lambda a: fastad.scipy.linalg.inv(a)[0, 0])(numpy.diag([2.0, 4.0])) + 0.0
    array([[-0.25,  0.  ],
           [ 0.  ,  0.  ]])
    """
    if not is_traced(a):
        return _scipy("inv")(a, overwrite_a=overwrite_a, check_finite=check_finite, **kwargs)
    return _numpy_linalg.inv(_as_read(a, kwargs.get("assume_a"), kwargs.get("lower", False),
                                      "inv"))


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    """scipy.linalg.solve: x with a x = b (a^T x = b when transposed).

    >>> a = numpy.array([[2.0, 1.0], [1.0, 3.0]])
    >>> fastad.scipy.linalg.solve(a, numpy.array([3.0, 4.0]), assume_a="pos")
    array([1., 1.])
    >>> fastad.grad(lambda b: np.sum(fastad.scipy.linalg.solve(a, b)))(numpy.array([3.0, 4.0]))
    array([0.4, 0.2])
    """
    if not is_traced(a, b):
        return _scipy("solve")(a, b, lower=lower, overwrite_a=overwrite_a,
                               overwrite_b=overwrite_b, check_finite=check_finite,
                               assume_a=assume_a, transposed=transposed)
    if assume_a in ("lower triangular", "upper triangular"):
        return solve_triangular(a, b, trans=1 if transposed else 0,
                                lower=assume_a == "lower triangular")
    a = _as_read(a, assume_a, lower, "solve")
    return _numpy_linalg.solve(_mT(a) if transposed else a, b)


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """scipy.linalg.cholesky: the upper factor U (A = U^T U) reading the
    upper triangle, or with lower=True the lower factor L reading the lower
    one.

    >>> a = numpy.array([[4.0, 2.0], [2.0, 5.0]])
    >>> fastad.scipy.linalg.cholesky(a)
    array([[2., 1.],
           [0., 2.]])
    >>> fastad.grad(lambda a: fastad.scipy.linalg.cholesky(a)[0, 1])(a)   # a01 / sqrt(a00)
    array([[-0.125,  0.5  ],
           [ 0.   ,  0.   ]])
    """
    if not is_traced(a):
        return _scipy("cholesky")(a, lower=lower, overwrite_a=overwrite_a,
                                  check_finite=check_finite)
    factor = _numpy_linalg.cholesky(_as_read(a, "pos", lower, "cholesky"))
    return factor if lower else _mT(factor)


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """scipy.linalg.eigh of a symmetric matrix with distinct eigenvalues
    (the standard problem, b=None): (w, v), or w with eigvals_only.

    >>> a = numpy.array([[2.0, 1.0], [1.0, 2.0]])
    >>> fastad.scipy.linalg.eigh(a, eigvals_only=True)
    array([1., 3.])
    >>> fastad.grad(lambda a: fastad.scipy.linalg.eigh(a)[0][1])(a)   # v v^T, lower triangle
    array([[0.5, 0. ],
           [1. , 0.5]])
    """
    if not is_traced(a, b):
        return _scipy("eigh")(a, b, lower=lower, eigvals_only=eigvals_only,
                              overwrite_a=overwrite_a, overwrite_b=overwrite_b, type=type,
                              check_finite=check_finite, subset_by_index=subset_by_index,
                              subset_by_value=subset_by_value, driver=driver)
    _unsupported("eigh", b=(b, None), subset_by_index=(subset_by_index, None),
                 subset_by_value=(subset_by_value, None))
    w, v = _numpy_linalg.eigh(_as_read(a, "sym", lower, "eigh"))
    return w if eigvals_only else (w, v)


def eigvalsh(a, b=None, *, lower=True, overwrite_a=False, overwrite_b=False, type=1,
             check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """scipy.linalg.eigvalsh: the eigenvalues of a symmetric matrix.

    >>> fastad.jacobian(fastad.scipy.linalg.eigvalsh)(numpy.diag([1.0, 2.0]))[1]
    array([[0., 0.],
           [0., 1.]])
    """
    if not is_traced(a, b):
        return _scipy("eigvalsh")(a, b, lower=lower, overwrite_a=overwrite_a,
                                  overwrite_b=overwrite_b, type=type, check_finite=check_finite,
                                  subset_by_index=subset_by_index,
                                  subset_by_value=subset_by_value, driver=driver)
    return eigh(a, b, lower=lower, eigvals_only=True, subset_by_index=subset_by_index,
                subset_by_value=subset_by_value)


def svd(a, full_matrices=True, compute_uv=True, overwrite_a=False, check_finite=True,
        lapack_driver="gesdd"):
    """scipy.linalg.svd: (U, s, Vh), or s without compute_uv.

    >>> fastad.grad(lambda a: fastad.scipy.linalg.svd(a, compute_uv=False)[0])(
    ...     numpy.diag([3.0, 1.0]))
    array([[1., 0.],
           [0., 0.]])
    """
    if not is_traced(a):
        return _scipy("svd")(a, full_matrices=full_matrices, compute_uv=compute_uv,
                             overwrite_a=overwrite_a, check_finite=check_finite,
                             lapack_driver=lapack_driver)
    result = _numpy_linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(result) if compute_uv else result


def svdvals(a, overwrite_a=False, check_finite=True):
    """scipy.linalg.svdvals: the singular values, largest first.

    >>> fastad.scipy.linalg.svdvals(numpy.diag([1.0, -3.0]))
    array([3., 1.])
    """
    if not is_traced(a):
        return _scipy("svdvals")(a, overwrite_a=overwrite_a, check_finite=check_finite)
    return _numpy_linalg.svdvals(a)


def qr(a, overwrite_a=False, lwork=None, mode="full", pivoting=False, check_finite=True):
    """scipy.linalg.qr of a full-rank matrix with at least as many rows as
    columns: (Q, R) (mode 'economic', or 'full' for a square matrix), or
    (R,) with mode 'r' (square).

    >>> q, r = fastad.scipy.linalg.qr(numpy.array([[3.0], [4.0]]), mode="economic")
    >>> r
    array([[-5.]])
    >>> fastad.grad(lambda a: fastad.scipy.linalg.qr(a, mode="economic")[1][0, 0])(
    ...     numpy.array([[3.0], [4.0]]))
    array([[-0.6],
           [-0.8]])
    """
    if not is_traced(a):
        return _scipy("qr")(a, overwrite_a=overwrite_a, lwork=lwork, mode=mode,
                            pivoting=pivoting, check_finite=check_finite)
    _unsupported("qr", pivoting=(pivoting, False))
    rows, columns = a.shape[-2:]
    if mode not in ("economic", "full", "r") or (mode != "economic" and rows != columns):
        raise NotImplementedError("fastad.scipy.linalg.qr: mode=%r of a %dx%d matrix is not "
                                  "differentiated; use mode='economic'" % (mode, rows, columns))
    q, r = _numpy_linalg.qr(a)
    return (r,) if mode == "r" else (q, r)


def norm(a, ord=None, axis=None, keepdims=False, check_finite=True):
    """scipy.linalg.norm (numpy.linalg.norm's orders).

    >>> fastad.grad(fastad.scipy.linalg.norm)(numpy.array([3.0, 4.0]))
    array([0.6, 0.8])
    """
    if not is_traced(a):
        return _scipy("norm")(a, ord=ord, axis=axis, keepdims=keepdims,
                              check_finite=check_finite)
    return _numpy_linalg.norm(a, ord, axis, keepdims)


def __getattr__(name):
    # SciPy's other scipy.linalg names, for plain arrays (they refuse traced ones)
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return _scipy(name)
    except AttributeError:
        raise AttributeError("module 'fastad.scipy.linalg' has no attribute %r" % name) from None
