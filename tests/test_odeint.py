"""fastad.scipy.integrate.odeint: values against SciPy and closed forms,
derivatives (adjoint reverse mode, sensitivity forward mode, second order)
against JAX's odeint, central differences and closed forms, and autograd's,
SciPy's and JAX's calling conventions.

Tolerances: the solver's default rtol = atol = 1.4e-8 bounds each step's
error, and the global error of a solution and of its derivatives over the
intervals here is 1e-8 to 5e-7 (measured): comparisons with exact values
and with JAX's Dormand-Prince solution use 1e-6."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as np

scipy_integrate = pytest.importorskip("scipy.integrate")
from fastad.scipy.integrate import odeint  # noqa: E402

rng = numpy.random.default_rng(5)
R = rng.standard_normal


def oscillator(y, t, k, c):
    """x'' + c x' + k x = 0 as a 2-state system."""
    return np.array([y[1], -k * y[0] - c * y[1]])


def oscillator_closed_form(k, c, t):
    """x(t) from x(0) = 1, x'(0) = 0 (underdamped)."""
    w = np.sqrt(k - c ** 2 / 4)
    return np.exp(-c * t / 2) * (np.cos(w * t) + c / (2 * w) * np.sin(w * t))


Y0, TIMES, PARAMS = numpy.array([1.0, 0.0]), numpy.linspace(0.0, 5.0, 11), numpy.array([2.0, 0.3])


def final_state(params, y0=Y0, times=TIMES):
    return odeint(oscillator, y0, times, params[0], params[1])[-1]


def test_gradients_agree_with_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    from jax.experimental.ode import odeint as jax_odeint

    def jax_oscillator(y, t, k, c):
        return jnp.array([y[1], -k * y[0] - c * y[1]])

    def jax_solution(params, y0, times):
        ys = jax_odeint(jax_oscillator, y0, times, params[0], params[1])
        return ys[-1], jnp.sum(ys ** 2)

    # one compiled reverse pass for every derivative (JAX compiles for seconds per call)
    derivatives = jax.jit(jax.jacrev(jax_solution, argnums=(0, 1, 2)))(
        jnp.asarray(PARAMS), jnp.asarray(Y0), jnp.asarray(TIMES))
    (final_params, final_y0, _), (_, _, energy_times) = [
        [numpy.asarray(d) for d in part] for part in derivatives]
    # the final state with respect to the parameters (k, c) and to y0
    for jacobian in (fd.jacrev, fd.jacfwd):
        numpy.testing.assert_allclose(jacobian(final_state)(PARAMS), final_params, atol=1e-6,
                                      rtol=0)
    numpy.testing.assert_allclose(fd.jacrev(lambda y0: final_state(PARAMS, y0))(Y0), final_y0,
                                  atol=1e-6, rtol=0)
    # the sum of squares of the whole solution with respect to the times
    analytic = fd.grad(lambda t: np.sum(odeint(oscillator, Y0, t, 2.0, 0.3) ** 2))(TIMES)
    numpy.testing.assert_allclose(analytic, energy_times, atol=1e-6, rtol=0)


def test_gradients_agree_with_the_closed_form_and_central_differences():
    x_final = lambda p: oscillator_closed_form(p[0], p[1], TIMES[-1])  # noqa: E731
    assert final_state(PARAMS)[0] == pytest.approx(x_final(PARAMS), abs=1e-7)
    exact = fd.grad(x_final)(PARAMS)
    for jacobian in (fd.jacrev, fd.jacfwd):
        numpy.testing.assert_allclose(jacobian(final_state)(PARAMS)[0], exact, atol=1e-6)
    # central differences of the solver itself (its error control makes them
    # noisy at the 1e-7 level, hence 1e-6)
    numeric = numpy.stack([fd.numerical_grad(lambda p: final_state(p)[i], PARAMS)
                           for i in range(2)])
    numpy.testing.assert_allclose(fd.jacrev(final_state)(PARAMS), numeric, atol=1e-6)


def test_worked_values_of_exponential_decay():
    decay = lambda y, t, k: -k * y  # noqa: E731
    t = numpy.array([0.0, 0.5, 2.0])
    numpy.testing.assert_allclose(odeint(decay, 1.0, t, 0.5), numpy.exp(-0.5 * t), atol=1e-7)
    # d y(t) / dk = -t exp(-k t); d y(t) / dy0 = exp(-k t); d y(t) / dt = -k y(t)
    numpy.testing.assert_allclose(fd.jacobian(lambda k: odeint(decay, 1.0, t, k))(0.5),
                                  -t * numpy.exp(-0.5 * t), atol=1e-7)
    numpy.testing.assert_allclose(fd.jacobian(lambda y0: odeint(decay, y0, t, 0.5))(2.0),
                                  numpy.exp(-0.5 * t), atol=1e-7)
    numpy.testing.assert_allclose(fd.grad(lambda t: odeint(decay, 1.0, t, 0.5)[-1])(t),
                                  [0.5 * numpy.exp(-1.0), 0.0, -0.5 * numpy.exp(-1.0)],
                                  atol=1e-7)


def _autograd_func(y, t, arg1, arg2):
    # autograd's tests/test_scipy.py::test_odeint
    return -np.sqrt(t) - y + arg1 - np.mean((y + arg2) ** 2)


def test_autograds_case_both_modes_and_second_order():
    y0, t, args = R(3), numpy.linspace(0.1, 0.2, 4), (R(3), R(3))
    expected = scipy_integrate.odeint(_autograd_func, y0, t, args, rtol=1.4e-8, atol=1.4e-8)
    numpy.testing.assert_allclose(odeint(_autograd_func, y0, t, args), expected, rtol=1e-12)
    fun = lambda y0, t, args: odeint(_autograd_func, y0, t, args)  # noqa: E731
    fd.check_grads(fun, y0, t, args, modes=("fwd", "rev"), order=2)


def test_hessian_through_odeint():
    # y' = -y^2: y(1) = y0 / (1 + y0), d2/dy0^2 = -2 / (1 + y0)^3
    y0 = numpy.array([1.0, 2.0])
    final = lambda y0: np.sum(odeint(lambda y, t: -y ** 2, y0, numpy.array([0.0, 1.0]))[-1])  # noqa: E731
    H = fd.hessian(final)(y0)
    numpy.testing.assert_allclose(H, numpy.diag(-2 / (1 + y0) ** 3), atol=1e-6)


def test_pytree_state_and_arguments_with_static_leaves():
    def f(state, t, params, n):
        assert type(n) is int   # (a non-float argument is passed on as it is)
        return {"x": state["v"], "v": -params["k"] * state["x"] * n}
    state = {"x": numpy.array([1.0, 2.0]), "v": numpy.zeros(2)}
    t = numpy.linspace(0.0, 1.0, 3)
    out = odeint(f, state, t, {"k": 2.0}, 1)
    assert out["x"].shape == (3, 2) and out["v"].shape == (3, 2)
    numpy.testing.assert_allclose(out["x"][:, 1], 2 * numpy.cos(numpy.sqrt(2.0) * t), atol=1e-7)
    loss = lambda k: np.sum(odeint(f, state, t, {"k": k}, 1)["x"][-1])  # noqa: E731
    # x(1) = x0 cos(sqrt(k)): d/dk = -x0 sin(sqrt k) / (2 sqrt k), summed over x0 = 1, 2
    s = numpy.sqrt(2.0)
    assert fd.grad(loss)(2.0) == pytest.approx(-3 * numpy.sin(s) / (2 * s), abs=1e-6)


def test_calling_conventions():
    t = numpy.linspace(0.0, 1.0, 3)
    one_param = lambda y, t, params: -params[0] * y + params[1]  # noqa: E731
    two_params = lambda y, t, a, b: -a * y + b  # noqa: E731
    expected = 0.5 + 0.5 * numpy.exp(-t)
    # JAX: *args; a tuple the function takes whole stays whole
    numpy.testing.assert_allclose(odeint(two_params, 1.0, t, 1.0, 0.5), expected, atol=1e-7)
    numpy.testing.assert_allclose(odeint(one_param, 1.0, t, (1.0, 0.5)), expected, atol=1e-7)
    # SciPy and autograd: one tuple of the function's arguments, or args=
    numpy.testing.assert_allclose(odeint(two_params, 1.0, t, (1.0, 0.5)), expected, atol=1e-7)
    numpy.testing.assert_allclose(odeint(two_params, 1.0, t, args=(1.0, 0.5)), expected,
                                  atol=1e-7)
    numpy.testing.assert_allclose(
        odeint(lambda t, y, a, b: -a * y + b, 1.0, t, args=(1.0, 0.5), tfirst=True), expected,
        atol=1e-7)
    assert odeint(two_params, 1.0, t, 1.0, 0.5).shape == (3,)        # JAX: y0's shape
    assert odeint(two_params, numpy.ones(1), t, 1.0, 0.5).shape == (3, 1)
    with pytest.raises(TypeError, match="full_output"):
        odeint(two_params, 1.0, t, 1.0, 0.5, full_output=True)
    with pytest.raises(TypeError, match="not both"):
        odeint(two_params, 1.0, t, 1.0, args=(0.5,))
    with pytest.raises(ValueError, match="1-D"):
        odeint(two_params, 1.0, 1.0, 1.0, 0.5)


def test_tolerances_are_passed_on():
    decay = lambda y, t: -y  # noqa: E731
    t = numpy.linspace(0.0, 3.0, 4)
    loose = odeint(decay, 1.0, t, rtol=1e-3, atol=1e-3)
    numpy.testing.assert_allclose(loose, scipy_integrate.odeint(decay, 1.0, t, rtol=1e-3,
                                                                atol=1e-3)[:, 0])
    assert numpy.max(numpy.abs(loose - numpy.exp(-t))) > 1e-6    # (loose means loose)
