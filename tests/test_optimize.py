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
    result = fd.optimize.minimize(rosen, x0, method=method)
    assert result.success and result.recorded
    extra = {"hessp": scipy_optimize.rosen_hess_prod} if method in ("Newton-CG", "trust-ncg") else {}
    if method == "trust-exact":
        extra = {"hess": scipy_optimize.rosen_hess}
    reference = scipy_optimize.minimize(scipy_optimize.rosen, x0, jac=scipy_optimize.rosen_der,
                                        method=method, **extra)
    # As close to the minimum (1, ..., 1) as scipy with the hand-written
    # derivatives gets: within 1e-3 where scipy's default tolerances stop
    # there, and within twice scipy's distance where they stop earlier
    # (Newton-CG at n = 100 stops about 0.02 away).  Which of two such runs
    # ends nearer depends on last bits: one ulp in rosen_der alone moves
    # scipy's own end point by 0.017 there.
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
