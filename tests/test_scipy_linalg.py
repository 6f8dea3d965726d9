"""fastad.scipy.linalg: solve_triangular, solve_banded, solve_sylvester and
sqrtm (autograd's rules, and forward rules) and scipy.linalg's names for
fastad.numpy.linalg's functions: values equal SciPy's, derivatives in both
modes and to second order agree with central differences (check_grads),
with random directions that also move the entries SciPy does not read."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as np

scipy_linalg = pytest.importorskip("scipy.linalg")
import fastad.scipy.linalg as fl  # noqa: E402

rng = numpy.random.default_rng(7)
R = rng.standard_normal
A = 3 * numpy.eye(4) + 0.5 * R((4, 4))            # well conditioned, not symmetric
SPD = A @ A.T + numpy.diag([0.0, 1.0, 2.0, 3.0])  # distinct eigenvalues
NONSYM = SPD + 0.3 * R((4, 4))                    # SciPy reads one triangle of it
VECTOR, MATRIX = R(4), R((4, 2))


def check(fun, *args):
    """fun's traced value is its plain value (SciPy's), and its derivatives
    pass check_grads in both modes to order 2."""
    plain = fun(*args)
    traced = fd.vjp(fun, *args)[0]
    for p, t in zip(plain if isinstance(plain, tuple) else (plain,),
                    traced if isinstance(traced, tuple) else (traced,)):
        numpy.testing.assert_allclose(t, p, rtol=1e-12, atol=1e-13)
    fd.check_grads(fun, *args, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("trans", [0, "T", 2])
@pytest.mark.parametrize("unit_diagonal", [False, True])
@pytest.mark.parametrize("rhs", [VECTOR, MATRIX], ids=["vector", "matrix"])
def test_solve_triangular(lower, trans, unit_diagonal, rhs):
    def fun(a, b):
        return fl.solve_triangular(a, b, trans=trans, lower=lower, unit_diagonal=unit_diagonal)
    numpy.testing.assert_array_equal(fun(A, rhs), scipy_linalg.solve_triangular(
        A, rhs, trans=trans, lower=lower, unit_diagonal=unit_diagonal))
    check(fun, A, rhs)


def test_solve_triangular_reads_only_its_triangle():
    g = fd.grad(lambda a: np.sum(fl.solve_triangular(a, VECTOR, lower=True,
                                                     unit_diagonal=True)))(A)
    assert numpy.all(numpy.triu(g) == 0)


def _banded(l, u, n):
    ab = R((l + u + 1, n))
    ab[u] += 4.0  # diagonally dominant
    return ab


@pytest.mark.parametrize("l_and_u", [(1, 1), (1, 2), (2, 0), (0, 1)], ids=str)
@pytest.mark.parametrize("rhs_shape", [(6,), (6, 2)], ids=["vector", "matrix"])
def test_solve_banded(l_and_u, rhs_shape):
    ab, b = _banded(*l_and_u, 6), R(rhs_shape)
    numpy.testing.assert_array_equal(fl.solve_banded(l_and_u, ab, b),
                                     scipy_linalg.solve_banded(l_and_u, ab, b))
    check(lambda ab, b: fl.solve_banded(l_and_u, ab, b), ab, b)
    # the storage entries outside the matrix have no derivative
    g = fd.grad(lambda ab: np.sum(fl.solve_banded(l_and_u, ab, b)))(ab)
    l, u = l_and_u
    for r in range(u):
        assert numpy.all(g[r, :u - r] == 0)
    for r in range(1, l + 1):
        assert numpy.all(g[u + r, 6 - r:] == 0)


def test_solve_sylvester():
    b, q = 3 * numpy.eye(4) + 0.5 * R((4, 4)), R((4, 4))
    numpy.testing.assert_array_equal(fl.solve_sylvester(A, b, q),
                                     scipy_linalg.solve_sylvester(A, b, q))
    check(fl.solve_sylvester, A, b, q)


def test_sqrtm():
    numpy.testing.assert_array_equal(fl.sqrtm(SPD), scipy_linalg.sqrtm(SPD))
    check(fl.sqrtm, SPD)
    check(fl.sqrtm, A)  # not symmetric: a real principal root all the same
    # d sqrt(a) = da / (2 sqrt a) on a diagonal
    g = fd.grad(lambda a: fl.sqrtm(a)[1, 1])(numpy.diag([4.0, 9.0]))
    numpy.testing.assert_allclose(g, [[0.0, 0.0], [0.0, 1 / 6]], atol=1e-15)


@pytest.mark.parametrize("lower", [True, False])
def test_symmetric_solvers_read_one_triangle(lower):
    check(lambda a: fl.cholesky(a, lower=lower), NONSYM)
    check(lambda a: fl.eigh(a, lower=lower)[0], NONSYM)
    check(lambda a: fl.eigh(a, lower=lower)[1] ** 2, NONSYM)  # (squares: free of the signs)
    check(lambda a: fl.eigh(a, lower=lower, eigvals_only=True), NONSYM)
    check(lambda a: fl.eigvalsh(a, lower=lower), NONSYM)
    for assume_a in (None, "gen", "sym", "pos"):
        for transposed in (False, True):
            check(lambda a, b: fl.solve(a, b, lower=lower, assume_a=assume_a,
                                        transposed=transposed), NONSYM, VECTOR)
    triangle = "lower triangular" if lower else "upper triangular"
    check(lambda a, b: fl.solve(a, b, assume_a=triangle), NONSYM, MATRIX)
    import inspect
    import scipy.linalg
    if "assume_a" in inspect.signature(scipy.linalg.inv).parameters:  # (SciPy >= 1.17)
        check(lambda a: fl.inv(a, assume_a="pos", lower=lower), NONSYM)
    # the triangle not read has no derivative (and changing it changes nothing)
    unread = numpy.triu(numpy.ones(NONSYM.shape, bool), 1) if lower else \
        numpy.tril(numpy.ones(NONSYM.shape, bool), -1)
    for fun in (lambda a: fl.cholesky(a, lower=lower), lambda a: fl.eigvalsh(a, lower=lower),
                lambda a: fl.solve(a, VECTOR, lower=lower, assume_a="pos")):
        g = fd.grad(lambda a: np.sum(fun(a) ** 2))(NONSYM)
        assert numpy.all(g[unread] == 0.0) and numpy.any(g[~unread] != 0.0)
        numpy.testing.assert_array_equal(fun(numpy.where(unread, 7.0, NONSYM)), fun(NONSYM))


def test_the_other_names():
    check(fl.det, A)
    check(fl.inv, A)
    check(lambda a: fl.svd(a, full_matrices=False)[1], R((4, 3)))
    check(lambda a: fl.svd(a)[0] ** 2, A)
    check(lambda a: fl.svd(a, compute_uv=False), R((4, 3)))
    check(fl.svdvals, R((3, 4)))
    check(lambda a: fl.qr(a, mode="economic")[1], R((4, 3)))
    check(lambda a: fl.qr(a)[0], A)
    check(lambda a: fl.qr(a, mode="r")[0], A)
    check(fl.norm, A)
    check(lambda a: fl.norm(a, 2), A)
    check(lambda a: fl.norm(a, axis=0), A)
    # SciPy's upper factor by default
    numpy.testing.assert_allclose(fl.cholesky(SPD), numpy.linalg.cholesky(SPD).T)
    # SciPy's own other names, for plain arrays
    assert fl.expm is scipy_linalg.expm


def test_options_without_a_mapping_raise():
    def grad_of(fun):
        return fd.grad(lambda a: np.sum(fun(a)))(SPD)
    with pytest.raises(NotImplementedError, match="b=an array of shape"):
        grad_of(lambda a: fl.eigh(a, numpy.eye(4))[0])
    with pytest.raises(NotImplementedError, match="pivoting"):
        grad_of(lambda a: fl.qr(a, pivoting=True)[0])
    with pytest.raises(NotImplementedError, match="banded"):
        grad_of(lambda a: fl.solve(a, VECTOR, assume_a="banded"))
    with pytest.raises(NotImplementedError, match="disp"):
        fl.sqrtm(SPD, disp=False)
    with pytest.raises(AttributeError):
        fl.no_such_function
