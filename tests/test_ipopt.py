"""fastad.ipopt and fastad.optimize.minimize_ipopt (skipped without cyipopt):
the callbacks equal dense fastad derivatives on their structures, and IPOPT
reaches the known optima."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp

cyipopt = pytest.importorskip("cyipopt")


def hs071(x):
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


def hs071_constraints(x):
    return fnp.stack([x[0] * x[1] * x[2] * x[3], fnp.sum(x ** 2)])


def test_hs071_through_the_problem_class():
    x0 = np.array([1.0, 5.0, 5.0, 1.0])
    problem = fd.ipopt.Problem(hs071, x0, g=hs071_constraints, lb=1.0, ub=5.0,
                               cl=[25.0, 40.0], cu=[np.inf, 40.0])
    x, info = problem.solve(options={"print_level": 0})
    assert info["status"] == 0
    np.testing.assert_allclose(x, [1.0, 4.74299963, 3.82114998, 1.37940829], rtol=1e-6)
    np.testing.assert_allclose(info["obj_val"], 17.014017145, rtol=1e-8)


def test_callbacks_equal_dense_derivatives():
    n = 7

    def f(x):
        return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)

    def g(x):  # a trapezoid-like chain of constraints
        return x[1:] - x[:-1] - 0.1 * (fnp.sin(x[1:]) + fnp.sin(x[:-1]))
    rng = np.random.default_rng(2)
    x = rng.uniform(-1.0, 1.0, n)
    problem = fd.ipopt.Problem(f, np.zeros(n), g=g)
    np.testing.assert_allclose(problem.gradient(x), fd.grad(f)(x), rtol=1e-14)
    rows, cols = problem.jacobianstructure()
    dense = fd.jacobian(g)(x)
    assert len(rows) == 2 * (n - 1)
    np.testing.assert_allclose(problem.jacobian(x), dense[rows, cols], rtol=1e-14)
    assert not np.any(np.delete(dense.ravel(), rows * n + cols))
    lam, sigma = rng.normal(size=n - 1), 0.3
    lagrangian = lambda x: sigma * f(x) + fnp.dot(lam, g(x))  # noqa: E731
    rows, cols = problem.hessianstructure()
    assert np.all(rows >= cols) and len(rows) == 2 * n - 1
    H = fd.hessian(lagrangian)(x)
    np.testing.assert_allclose(problem.hessian(x, lam, sigma), H[rows, cols], rtol=1e-13)
    assert not np.any(np.tril(H)[np.tril(np.ones((n, n), bool)) & ~_mask(rows, cols, n)])


def _mask(rows, cols, n):
    m = np.zeros((n, n), bool)
    m[rows, cols] = True
    return m


def test_minimize_ipopt_with_scipy_style_constraints():
    cons = [{"type": "ineq", "fun": lambda x: x[0] * x[1] * x[2] * x[3] - 25.0},
            {"type": "eq", "fun": lambda x: fnp.sum(x ** 2) - 40.0}]
    res = fd.optimize.minimize_ipopt(hs071, np.array([1.0, 5.0, 5.0, 1.0]),
                                     bounds=[(1.0, 5.0)] * 4, constraints=cons,
                                     options={"disp": 0})
    assert res.success and isinstance(res.message, str)
    np.testing.assert_allclose(res.fun, 17.014017145, rtol=1e-8)
    import scipy.optimize
    nonlinear = scipy.optimize.NonlinearConstraint(lambda x: fnp.sum(x ** 2), 40.0, 40.0)
    res2 = fd.optimize.minimize_ipopt(
        hs071, np.array([1.0, 5.0, 5.0, 1.0]), bounds=scipy.optimize.Bounds(1.0, 5.0),
        constraints=[cons[0], nonlinear], tol=1e-10, options={"disp": 0})
    np.testing.assert_allclose(res2.x, res.x, rtol=1e-6)


def test_problem_errors():
    with pytest.raises(ValueError, match="x0 must be a 1-d array"):
        fd.ipopt.Problem(lambda x: fnp.sum(x), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="f must return a scalar"):
        fd.ipopt.Problem(lambda x: x * 2.0, np.zeros(2))
    with pytest.raises(TypeError, match="g must return a 1-d array"):
        fd.ipopt.Problem(lambda x: fnp.sum(x), np.zeros(2), g=lambda x: fnp.sum(x))
    with pytest.raises(ValueError, match="lb holds NaN"):
        fd.ipopt.Problem(lambda x: fnp.sum(x), np.zeros(2), lb=np.nan)
    with pytest.raises(ValueError, match="type must be 'eq' or 'ineq'"):
        fd.optimize.minimize_ipopt(lambda x: fnp.sum(x ** 2), np.zeros(2),
                                   constraints={"type": "le", "fun": lambda x: x[0]})


def _hs071_problem():
    return fd.ipopt.Problem(hs071, np.array([1.0, 5.0, 5.0, 1.0]), g=hs071_constraints, lb=1.0,
                            ub=5.0, cl=[25.0, 40.0], cu=[np.inf, 40.0])


def test_the_c_interface_and_cyipopt_give_the_same_solve(monkeypatch):
    from fastad import _ipopt_c
    if _ipopt_c.library() is None:
        pytest.skip("IPOPT's library is not found in this process")
    x, info = _hs071_problem().solve(options={"print_level": 0})
    monkeypatch.setattr(_ipopt_c, "library", lambda: None)  # (through cyipopt)
    x2, info2 = _hs071_problem().solve(options={"print_level": 0})
    np.testing.assert_array_equal(x, x2)
    assert info["iter_count"] == info2["iter_count"] > 0
    assert info["status"] == info2["status"] == 0 and info["obj_val"] == info2["obj_val"]
    assert info["status_msg"] == info2["status_msg"]
    for key in ("g", "mult_g", "mult_x_L", "mult_x_U"):
        np.testing.assert_allclose(info[key], info2[key], rtol=1e-12, atol=1e-14)


def test_an_error_in_a_callback_stops_ipopt_and_is_raised():
    problem = _hs071_problem()
    calls = [0]
    hessian = problem.hessian

    def failing(*args):
        calls[0] += 1
        if calls[0] == 3:
            raise ZeroDivisionError("raised by the third Hessian")
        return hessian(*args)
    problem.hessian = failing
    with pytest.raises(ZeroDivisionError, match="third Hessian"):
        problem.solve(options={"print_level": 0})
    assert calls[0] == 3  # (IPOPT stopped: no call after the error)


def test_solve_errors():
    problem = _hs071_problem()
    with pytest.raises(ValueError, match=r"x0 must have shape \(4,\)"):
        problem.solve(np.zeros(3))
    with pytest.raises(TypeError, match="expected a str, int or float"):
        problem.solve(options={"tol": [1e-8]})
    with pytest.raises(ValueError, match="rejected the option 'no_such_option'"):
        problem.solve(options={"no_such_option": 1, "print_level": 0})
    # a problem without constraints, and options of each type
    free = fd.ipopt.Problem(lambda x: fnp.sum((x - 2.0) ** 2), np.zeros(3))
    x, info = free.solve(options={"print_level": 0, "tol": 1e-10, "mu_strategy": "adaptive"})
    np.testing.assert_allclose(x, 2.0, rtol=1e-9)
    assert info["g"].shape == (0,) and info["iter_count"] >= 1
