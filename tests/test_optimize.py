"""fastad.optimize: scipy's minimizers with fastad's derivatives."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp

scipy_optimize = pytest.importorskip("scipy.optimize")


def rosen(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.mark.parametrize("n", [2, 100])
@pytest.mark.parametrize("method", ["L-BFGS-B", "Newton-CG", "trust-ncg", "trust-exact", "BFGS"])
def test_rosenbrock_matches_scipy_with_hand_written_derivatives(n, method):
    x0 = numpy.array([-1.2, 1.0]) if n == 2 else numpy.full(n, -1.2)
    # Newton-CG's default xtol (1e-5) stops it at n = 100 before the minimum,
    # at a point that depends on last bits: between 0.0007 and 0.075 away for
    # x0 moved by a few ulps, for scipy's run as for fastad's, and the
    # installed NumPy's BLAS (ddot in the conjugate gradients: NumPy 1.26
    # ships OpenBLAS 0.3.23, NumPy 2.4 0.3.31) moves it too (scipy's ends
    # 0.02 away on NumPy 2.4 and 0.0008 on 1.26).  A tighter xtol takes both
    # runs to the minimum, where the comparison below means something.
    options = {"options": {"xtol": 1e-8}} if (method, n) == ("Newton-CG", 100) else {}
    result = fd.optimize.minimize(rosen, x0, method=method, **options)
    assert result.success and result.recorded
    extra = {"hessp": scipy_optimize.rosen_hess_prod} if method in ("Newton-CG", "trust-ncg") else {}
    if method == "trust-exact":
        extra = {"hess": scipy_optimize.rosen_hess}
    reference = scipy_optimize.minimize(scipy_optimize.rosen, x0, jac=scipy_optimize.rosen_der,
                                        method=method, **extra, **options)
    # As close to the minimum (1, ..., 1) as scipy with the hand-written
    # derivatives gets: within 1e-3 where scipy's tolerances stop there, and
    # within twice scipy's distance where they stop earlier.
    distance = numpy.abs(reference.x - 1.0).max()
    assert numpy.abs(result.x - 1.0).max() <= max(1e-3, 2.0 * distance)
    if n == 2:
        assert abs(result.nit - reference.nit) <= 1


def test_pytree_parameters_and_args(rng):
    X, y = rng.standard_normal((50, 3)), rng.standard_normal(50)

    def loss(p, X, y):
        return fnp.mean((X @ p["w"] + p["b"] - y) ** 2)
    result = fd.optimize.minimize(loss, {"w": numpy.zeros(3), "b": 0.0}, args=(X, y),
                                  method="L-BFGS-B")
    A = numpy.hstack([X, numpy.ones((50, 1))])
    expected = numpy.linalg.lstsq(A, y, rcond=None)[0]
    numpy.testing.assert_allclose(result.x["w"], expected[:3], atol=1e-5)
    assert isinstance(result.x["b"], float)


def test_function_that_cannot_be_recorded_is_traced_afresh():
    def f(x):
        # a branch on a traced comparison flips along the path: re-recorded
        return fnp.sum((x - 3.0) ** 2) if x[0] > 0 else fnp.sum((x - 3.0) ** 2) + 0.0
    result = fd.optimize.minimize(f, numpy.array([-1.0, 0.0]), method="BFGS")
    numpy.testing.assert_allclose(result.x, [3.0, 3.0], atol=1e-5)


def test_least_squares(rng):
    t = numpy.linspace(0, 3, 30)
    y = 2.5 * numpy.exp(-1.3 * t) + 0.01 * rng.standard_normal(30)
    result = fd.optimize.least_squares(lambda p: p[0] * fnp.exp(-p[1] * t) - y,
                                       numpy.array([1.0, 1.0]))
    numpy.testing.assert_allclose(result.x, [2.5, 1.3], atol=0.05)
    assert result.recorded


def test_supplying_jac_is_refused():
    with pytest.raises(TypeError, match="supplies jac"):
        fd.optimize.minimize(rosen, numpy.zeros(2), jac=lambda x: x)


def test_trust_constr_returns_the_gradient_in_the_parameters_structure():
    # (AttributeError: scipy's `jac` is the constraints' Jacobians there, a list)
    from scipy.optimize import LinearConstraint
    params = {"a": numpy.zeros(2), "b": 0.5}
    result = fd.optimize.minimize(
        lambda p: fnp.sum((p["a"] - 1.0) ** 2) + (p["b"] - 2.0) ** 2, params,
        method="trust-constr")
    numpy.testing.assert_allclose(result.x["a"], [1.0, 1.0], atol=1e-6)
    assert abs(result.grad["b"]) < 1e-6
    result = fd.optimize.minimize(lambda x: fnp.sum((x - 1.0) ** 2), numpy.zeros(2),
                                  method="trust-constr",
                                  constraints=[LinearConstraint(numpy.ones((1, 2)), -numpy.inf, 1.0)])
    numpy.testing.assert_allclose(result.x, [0.5, 0.5], atol=1e-3)
    assert isinstance(result.jac, list)


def test_least_squares_with_the_sparsity_found_on_the_tape():
    # a chained residual: a banded Jacobian, given to scipy as a sparse matrix
    def residuals(x):
        return fnp.concatenate([10.0 * (x[1:] - x[:-1] ** 2), 1.0 - x[:-1]])
    x0 = numpy.full(30, -0.5)
    sparse = fd.optimize.least_squares(residuals, x0, jac_sparsity="auto")
    dense = fd.optimize.least_squares(residuals, x0)
    assert sparse.success and sparse.recorded
    import scipy.sparse
    assert scipy.sparse.issparse(sparse.jac) and sparse.jac.nnz == 2 * 29 + 29
    numpy.testing.assert_allclose(sparse.x, dense.x, atol=1e-6)
    numpy.testing.assert_allclose(sparse.x, numpy.ones(30), atol=1e-6)
    with pytest.raises(ValueError, match="jac_sparsity is None"):
        fd.optimize.least_squares(residuals, x0, jac_sparsity=numpy.ones((58, 30)))


def test_trust_constr_constraints_get_sparse_derivatives():
    import scipy.optimize
    import scipy.sparse

    def objective(x):
        return fnp.sum((x - 2.0) ** 2)
    ring = scipy.optimize.NonlinearConstraint(lambda x: x[1:] ** 2 + x[:-1] ** 2, 0.0, 2.0)
    total = {"type": "eq", "fun": lambda x: fnp.sum(x) - 4.0}
    x0 = numpy.full(5, 0.5)
    result = fd.optimize.minimize(objective, x0, method="trust-constr",
                                  constraints=[ring, total], options={"gtol": 1e-10})
    assert result.success or result.status in (1, 2)
    assert all(scipy.sparse.issparse(j) for j in result.jac)
    reference = scipy.optimize.minimize(
        lambda x: numpy.sum((x - 2.0) ** 2), x0, method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda x: 2.0 - (x[1:] ** 2 + x[:-1] ** 2)},
                     {"type": "eq", "fun": lambda x: numpy.sum(x) - 4.0}], tol=1e-12)
    numpy.testing.assert_allclose(result.x, reference.x, atol=1e-5)
