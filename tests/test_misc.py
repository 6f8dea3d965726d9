"""autograd's other operators and `autograd.misc` on fastad: flatten /
ravel_pytree, hessian_tensor_product, tensor_jacobian_product, make_ggnvp,
grad_and_aux, the optimizer loops of fastad.misc.optimizers and
fastad.misc.fixed_point; checked against dense derivatives, central
differences and worked values."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as np
from fastad.misc import fixed_point, optimizers

rng = numpy.random.default_rng(18)
R = rng.standard_normal


# -- flatten / ravel_pytree ----------------------------------------------------------

def test_flatten_autograd_cases():
    # autograd's tests/test_misc.py::test_flatten
    x = (1.0, R((2, 3)), [R((1, 4)), {"x": 2.0, "y": R((4, 2))}])
    vector, unflatten = fd.flatten(x)
    assert vector.shape == (20,) and vector[0] == 1.0
    assert numpy.all(vector == fd.flatten(unflatten(vector))[0])
    y = (1.0, 2.0, [3.0, {"x": 2.0, "y": 4.0}])
    y_vector, unflatten = fd.flatten(y)
    assert y_vector.shape == (5,)
    assert unflatten(y_vector) == y and type(unflatten(y_vector)[0]) is float


def test_flatten_empty_containers_and_empty_tree():
    val = (R(4), [R((3, 4)), 2.5], (), (2.0, [1.0, R(2)]))
    vector, unflatten = fd.flatten(val)
    assert numpy.all(fd.flatten(unflatten(vector))[0] == vector)
    vector, unflatten = fd.flatten(())
    assert vector.shape == (0,) and vector.dtype == numpy.float64 and unflatten(vector) == ()


def test_flatten_orders_dicts_by_sorted_key_and_keeps_their_order():
    tree = {"b": numpy.array([1.0, 2.0]), "a": 3.0}
    vector, unflatten = fd.flatten(tree)
    numpy.testing.assert_array_equal(vector, [3.0, 1.0, 2.0])  # (autograd and JAX: sorted)
    rebuilt = unflatten(numpy.array([30.0, 10.0, 20.0]))
    assert list(rebuilt) == ["b", "a"] and rebuilt["a"] == 30.0
    numpy.testing.assert_array_equal(rebuilt["b"], [10.0, 20.0])


def test_flatten_dtypes():
    vector, unflatten = fd.flatten({"w": numpy.ones(2, numpy.float32)})
    assert vector.dtype == numpy.float32 and unflatten(vector)["w"].dtype == numpy.float32
    vector, unflatten = fd.flatten([numpy.ones(2, numpy.float32), 1.0])
    assert vector.dtype == numpy.float64
    assert unflatten(vector)[0].dtype == numpy.float32  # each leaf back in its own dtype
    vector, unflatten = fd.flatten((1, numpy.arange(3)))      # ints: a float vector
    assert vector.dtype == numpy.float64
    assert unflatten(vector + 0.5)[0] == 1.5


def test_flatten_is_differentiable_both_ways():
    # autograd's test_flatten_nodes_in_containers: flatten of traced leaves
    assert fd.grad(lambda x, y: np.sum(fd.flatten([x, y])[0]))(1.0, 2.0) == 1.0
    tree = [R(4), [R((3, 4)), 2.5], (), (2.0, [1.0, R(2)])]
    vector, unflatten = fd.flatten(tree)
    # unflatten of a traced vector: its VJP is flatten (autograd's unflatten_tracing)
    vjp_fun, out = fd.make_vjp(unflatten)(vector)
    numpy.testing.assert_array_equal(vjp_fun(tree), vector)
    # the round trip is the identity, in both modes
    for jacobian in (fd.jacfwd, fd.jacrev):
        numpy.testing.assert_array_equal(
            jacobian(lambda v: fd.flatten(unflatten(v))[0])(vector), numpy.eye(vector.size))
    params = {"w": R((2, 2)), "b": 0.5}
    grads = fd.grad(lambda p: np.sum(fd.flatten(p)[0] ** 3))(params)
    numpy.testing.assert_allclose(grads["w"], 3 * params["w"] ** 2)
    assert grads["b"] == pytest.approx(0.75)


def test_ravel_pytree_is_flatten_and_misc_has_it():
    assert fd.ravel_pytree is fd.flatten and fd.misc.flatten is fd.flatten
    from fastad.misc import flatten  # noqa: F401  (autograd: from autograd.misc import flatten)


def test_unflatten_checks_the_length_and_stacks():
    vector, unflatten = fd.flatten((R(2), 1.0))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        unflatten(numpy.zeros(4))
    stacked = unflatten.stacked(numpy.arange(12.0).reshape(4, 3))
    assert stacked[0].shape == (4, 2) and stacked[1].shape == (4,)
    numpy.testing.assert_array_equal(stacked[1], [2.0, 5.0, 8.0, 11.0])


# -- products of derivatives ---------------------------------------------------------

def _f(x):
    return np.sum(np.sin(x) ** 2 * np.roll(x, 1))


@pytest.mark.parametrize("shape", [(4,), (2, 3)])
def test_hessian_tensor_product_equals_the_dense_hessian(shape):
    x, v = R(shape), R(shape)
    dense = numpy.tensordot(fd.hessian(_f)(x), v, len(shape))
    for operator in (fd.hessian_tensor_product, fd.hessian_vector_product):
        numpy.testing.assert_allclose(operator(_f)(x, v), dense, rtol=1e-12, atol=1e-12)
    # against central differences of the gradient
    numeric = (fd.grad(_f)(x + 1e-6 * v) - fd.grad(_f)(x - 1e-6 * v)) / 2e-6
    numpy.testing.assert_allclose(dense, numeric, rtol=1e-6, atol=1e-8)


def test_hessian_tensor_product_argnum_and_pytrees():
    f = lambda a, x: a * np.sum(x ** 3)  # noqa: E731
    x, v = R(3), R(3)
    numpy.testing.assert_allclose(fd.hessian_tensor_product(f, 1)(2.0, x, v), 2.0 * 6 * x * v)
    g = lambda p: p["a"] ** 3 * np.sum(p["b"] ** 2)  # noqa: E731
    hv = fd.hessian_tensor_product(g)({"a": 2.0, "b": numpy.array([1.0, 2.0])},
                                     {"a": 1.0, "b": numpy.array([0.0, 1.0])})
    # H = [[6 a |b|^2, 6 a^2 b^T], [6 a^2 b, 2 a^3 I]] at a = 2, b = (1, 2)
    assert hv["a"] == pytest.approx(108.0)
    numpy.testing.assert_allclose(hv["b"], [24.0, 64.0])


def test_tensor_jacobian_product():
    f = lambda x: np.outer(np.sin(x), x)  # noqa: E731
    x = R(3)
    jac = fd.jacobian(f)(x)                   # (3, 3, 3)
    vector, matrix = R(3), R((3, 3))
    for operator in (fd.tensor_jacobian_product, fd.vector_jacobian_product):
        numpy.testing.assert_allclose(operator(f)(x, matrix), numpy.tensordot(matrix, jac, 2))
        numpy.testing.assert_allclose(operator(f)(x, vector), numpy.tensordot(vector, jac, 1))
    worked = fd.tensor_jacobian_product(lambda x: np.array([x[0] * x[1], x[0] + x[1]]))
    numpy.testing.assert_array_equal(worked(numpy.array([2.0, 3.0]), numpy.array([1.0, 10.0])),
                                     [13.0, 12.0])


def test_make_ggnvp_default_and_custom_g():
    W = R((3, 4))
    f = lambda w, x: np.tanh(w @ x)  # noqa: E731
    x, v = R(4), R((3, 4))
    J = fd.jacobian(f)(W, x).reshape(3, 12)
    # default g = 1/2 |y|^2: H = I
    numpy.testing.assert_allclose(fd.make_ggnvp(f)(W, x)(v).ravel(), J.T @ J @ v.ravel())
    # g = logsumexp: H = diag(p) - p p^T
    g = lambda y: fd.scipy.special.logsumexp(y)  # noqa: E731
    y = numpy.tanh(W @ x)
    p = numpy.exp(y - numpy.log(numpy.sum(numpy.exp(y))))
    H = numpy.diag(p) - numpy.outer(p, p)
    numpy.testing.assert_allclose(fd.make_ggnvp(f, g)(W, x)(v).ravel(), J.T @ H @ J @ v.ravel())
    # f_argnum
    Jx = fd.jacobian(f, 1)(W, x)
    u = R(4)
    numpy.testing.assert_allclose(fd.make_ggnvp(f, g, f_argnum=1)(W, x)(u), Jx.T @ H @ Jx @ u)


def test_grad_and_aux():
    gradient, aux = fd.grad_and_aux(lambda x: (np.sum(x ** 2), "aux"))(numpy.array([1.0, 2.0]))
    numpy.testing.assert_array_equal(gradient, [2.0, 4.0])
    assert aux == "aux"
    gradient, aux = fd.grad_and_aux(lambda x, y: (x * y, [x, y]), 1)(3.0, 4.0)
    assert gradient == 3.0 and aux == [3.0, 4.0] and type(aux[0]) is float


# -- fastad.misc.optimizers ------------------------------------------------------------

def _reference(kind, grad, x, num_iters, step_size, **kw):
    """autograd's update formulas on a flat NumPy vector."""
    x = numpy.array(x, float)
    m, v = numpy.zeros(len(x)), numpy.zeros(len(x)) if kind != "rmsprop" else numpy.ones(len(x))
    for i in range(num_iters):
        g = grad(x, i)
        if kind == "sgd":
            m = kw["mass"] * m - (1.0 - kw["mass"]) * g
            x = x + step_size * m
        elif kind == "rmsprop":
            v = v * kw["gamma"] + g ** 2 * (1 - kw["gamma"])
            x = x - step_size * g / (numpy.sqrt(v) + kw["eps"])
        else:
            m = (1 - kw["b1"]) * g + kw["b1"] * m
            v = (1 - kw["b2"]) * g ** 2 + kw["b2"] * v
            mhat, vhat = m / (1 - kw["b1"] ** (i + 1)), v / (1 - kw["b2"] ** (i + 1))
            x = x - step_size * mhat / (numpy.sqrt(vhat) + kw["eps"])
    return x


CENTRE = numpy.array([1.0, -2.0, 0.5])


def _loss(p):
    return np.sum((p["w"] - CENTRE[:2]) ** 2) + 3.0 * (p["b"] - CENTRE[2]) ** 2


@pytest.mark.parametrize("kind, kw", [("sgd", dict(mass=0.9)),
                                      ("rmsprop", dict(gamma=0.9, eps=1e-8)),
                                      ("adam", dict(b1=0.9, b2=0.999, eps=1e-8))])
def test_optimizers_follow_autograds_updates_on_pytrees(kind, kw):
    seen = []
    grad = lambda p, i: fd.grad(_loss)(p)  # noqa: E731
    callback = lambda p, i, g: seen.append((i, sorted(p), sorted(g)))  # noqa: E731
    x0 = {"w": numpy.zeros(2), "b": 0.0}
    out = getattr(optimizers, kind)(grad, x0, callback, num_iters=50, step_size=0.05, **kw)
    assert sorted(out) == ["b", "w"] and type(out["b"]) is float
    flat_grad = lambda x, i: fd.grad(lambda x: _loss({"b": x[0], "w": x[1:]}))(x)  # noqa: E731
    expected = _reference(kind, flat_grad, [0.0, 0.0, 0.0], 50, 0.05, **kw)
    numpy.testing.assert_allclose(fd.flatten(out)[0], expected, rtol=1e-13, atol=1e-15)
    assert [i for i, _, _ in seen] == list(range(50))
    assert seen[0][1:] == (["b", "w"], ["b", "w"])  # callback(x, i, g) in x0's structure


def test_optimizer_defaults_and_worked_values():
    # adam's first step moves each coordinate by step_size against the gradient's sign
    out = optimizers.adam(lambda x, i: numpy.array([2.0, -0.5]), numpy.zeros(2), num_iters=1)
    numpy.testing.assert_allclose(out, [-0.001, 0.001], rtol=1e-7)
    # sgd's defaults: 200 iterations, step 0.1, mass 0.9 (near the minimum of (x - 3)^2)
    out = optimizers.sgd(lambda x, i: 2 * (x - 3.0), numpy.zeros(1))
    expected = _reference("sgd", lambda x, i: 2 * (x - 3.0), [0.0], 200, 0.1, mass=0.9)
    numpy.testing.assert_allclose(out, expected, rtol=1e-15)
    assert abs(out[0] - 3.0) < 1e-5
    # rmsprop's first step from ones: g / (sqrt(0.9 + 0.1 g^2) + eps)
    out = optimizers.rmsprop(lambda x, i: numpy.array([2.0]), numpy.zeros(1), num_iters=1)
    numpy.testing.assert_allclose(out, [-0.1 * 2.0 / (numpy.sqrt(0.9 + 0.4) + 1e-8)], rtol=1e-14)


def test_an_optimization_run_is_differentiable():
    # meta-optimization: d(final loss)/d(step size), against central differences
    def final_loss(step_size):
        out = optimizers.sgd(lambda p, i: fd.grad(_loss)(p), {"w": numpy.zeros(2), "b": 0.0},
                             num_iters=20, step_size=step_size)
        return _loss(out)
    analytic = fd.grad(final_loss)(0.1)
    numeric = (final_loss(0.1 + 1e-6) - final_loss(0.1 - 1e-6)) / 2e-6
    assert analytic == pytest.approx(numeric, rel=1e-6)


# -- fixed_point ---------------------------------------------------------------------

def _newton_sqrt(a):
    return lambda x: 0.5 * (x + a / x)


def _abs_distance(x, y):
    return abs(x - y)


def test_fixed_point_worked_values():
    sqrt = lambda a: fixed_point(_newton_sqrt, a, 1.0, _abs_distance, 1e-13)  # noqa: E731
    assert sqrt(2.0) == pytest.approx(2.0 ** 0.5, abs=1e-15)
    assert fd.grad(sqrt)(4.0) == pytest.approx(0.25, abs=1e-14)       # 1 / (2 sqrt a)
    assert fd.deriv(sqrt)(4.0) == pytest.approx(0.25, abs=1e-14)
    assert fd.grad(fd.grad(sqrt))(4.0) == pytest.approx(-1 / 32, abs=1e-12)  # -a^-3/2 / 4
    # x0 only starts the iteration
    assert fd.grad(lambda x0: fixed_point(_newton_sqrt, 2.0, x0, _abs_distance, 1e-13))(3.0) == 0


def _max_distance(x, y):
    return np.max(np.abs(x - y))


def _equilibrium(params):
    """x* = tanh(W x* + b): a contraction (|W| small)."""
    step = lambda p: lambda x: np.tanh(p["W"] @ x + p["b"])  # noqa: E731
    return fixed_point(step, params, numpy.zeros(4), _max_distance, 1e-14)


W0, B0 = 0.3 * R((4, 4)), R(4)


def test_fixed_point_gradient_agrees_with_central_differences():
    loss = lambda p: np.sum(_equilibrium(p) ** 2)  # noqa: E731
    grads = fd.grad(loss)({"W": W0, "b": B0})
    for name, value in (("W", W0), ("b", B0)):
        def of(v, name=name):
            return loss({"W": W0, "b": B0, name: v.reshape(value.shape)})
        numeric = fd.numerical_grad(of, value.ravel())
        numpy.testing.assert_allclose(grads[name].ravel(), numeric, atol=1e-6, rtol=0)


def test_fixed_point_jacobian_is_the_implicit_functions():
    x = _equilibrium({"W": W0, "b": B0})
    D = numpy.diag(1 - numpy.tanh(W0 @ x + B0) ** 2)
    expected = numpy.linalg.solve(numpy.eye(4) - D @ W0, D)   # (I - F_x)^-1 F_b
    for jacobian in (fd.jacfwd, fd.jacrev):
        numpy.testing.assert_allclose(jacobian(lambda b: _equilibrium({"W": W0, "b": b}))(B0),
                                      expected, atol=1e-13)


def test_fixed_point_second_order():
    loss = lambda b: np.sum(_equilibrium({"W": W0, "b": b}) ** 2)  # noqa: E731
    fd.check_grads(loss, B0, modes=("fwd", "rev"), order=2)
    H = fd.hessian(loss)(B0)
    numpy.testing.assert_allclose(H, fd.jacrev(fd.grad(loss))(B0), atol=1e-12)


def test_fixed_point_of_a_pytree_iterate():
    # x = (u, v) with u = a cos(v) / 2, v = a / 3 + u / 4
    step = lambda a: lambda x: (0.5 * a * np.cos(x[1]), a / 3.0 + 0.25 * x[0])  # noqa: E731
    distance = lambda x, y: abs(x[0] - y[0]) + abs(x[1] - y[1])  # noqa: E731
    solve = lambda a: fixed_point(step, a, (0.0, 0.0), distance, 1e-14)  # noqa: E731
    u, v = solve(0.8)
    assert u == pytest.approx(0.4 * numpy.cos(v), abs=1e-13)
    numeric = (numpy.array(solve(0.8 + 1e-6)) - numpy.array(solve(0.8 - 1e-6))) / 2e-6
    numpy.testing.assert_allclose(fd.jacobian(solve)(0.8), numeric, atol=1e-6)
