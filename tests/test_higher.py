"""Forward mode, nesting to any order, Jacobians, Hessians, HVPs: the
lectures' second-order examples and closed forms."""
import math

import numpy
import pytest

import fastad as fd
import fastad.numpy as np
import fastad.scipy.special as fsp

EXACT = dict(rtol=1e-12, atol=1e-13)


def test_example1_forward_trace_with_x1_seeded():
    """The lecture's forward trace: tangents 1, 0, 0.5, 5, 0, 5.5, 5.5."""
    tape = fd._tape.Tape()
    x1, x2 = tape.scalar_leaf(2.0), tape.scalar_leaf(5.0)
    np.log(x1) + x1 * x2 - np.sin(x2)
    # every node's tangent, in trace order
    per_node = [tape.forward(0, [(x1, 1.0), (x2, 0.0)], [tape.box(i)])[0] for i in range(len(tape))]
    # tape order: x1, x2, ln x1, x1*x2, (ln x1 + x1*x2), sin x2, result
    assert per_node == [1.0, 0.0, 0.5, 5.0, 5.5, 0.0, 5.5]
    assert fd.jvp(lambda a, b: np.log(a) + a * b - np.sin(b), (2.0, 5.0), (1.0, 0.0)) == (
        pytest.approx(11.652071455, rel=1e-9), 5.5)


@pytest.mark.parametrize("fun, derivatives", [
    (np.sin, [math.cos, lambda x: -math.sin(x), lambda x: -math.cos(x), math.sin]),
    (np.exp, [math.exp] * 4),
    (np.log, [lambda x: 1 / x, lambda x: -1 / x ** 2, lambda x: 2 / x ** 3, lambda x: -6 / x ** 4]),
    (np.tanh, [lambda x: 1 - math.tanh(x) ** 2,
               lambda x: -2 * math.tanh(x) * (1 - math.tanh(x) ** 2),
               lambda x: (1 - math.tanh(x) ** 2) * (6 * math.tanh(x) ** 2 - 2),
               lambda x: 8 * math.tanh(x) * (1 - math.tanh(x) ** 2) * (2 - 3 * math.tanh(x) ** 2)]),
], ids=["sin", "exp", "log", "tanh"])
@pytest.mark.parametrize("x", [0.3, 1.7])
def test_derivatives_to_order_four_by_nesting(fun, derivatives, x):
    f = fun
    for order, expected in enumerate(derivatives, 1):
        f = fd.grad(f)
        numpy.testing.assert_allclose(f(x), expected(x), rtol=1e-12, err_msg="order %d" % order)
    # forward over forward, and forward over reverse
    numpy.testing.assert_allclose(fd.deriv(fd.deriv(fun))(x), derivatives[1](x), rtol=1e-12)
    numpy.testing.assert_allclose(fd.deriv(fd.grad(fun))(x), derivatives[1](x), rtol=1e-12)
    numpy.testing.assert_allclose(fd.grad(fd.deriv(fun))(x), derivatives[1](x), rtol=1e-12)


def test_derivatives_of_array_functions_to_order_three():
    x = numpy.array([0.3, 1.1, -0.4])
    f = lambda x: np.sum(np.sin(x))  # noqa: E731
    numpy.testing.assert_allclose(fd.elementwise_grad(fd.elementwise_grad(fd.grad(f)))(x),
                                  -numpy.cos(x), **EXACT)


def test_perturbation_confusion():
    """d/dx [x * d/dy (x + y)] at y = x is 1, not 2 (Siskind and Pearlmutter)."""
    assert fd.grad(lambda x: x * fd.grad(lambda y: x + y)(x))(2.0) == 1.0
    assert fd.deriv(lambda x: x * fd.deriv(lambda y: x + y)(x))(2.0) == 1.0
    assert fd.grad(lambda x: x * fd.deriv(lambda y: x + y)(x))(2.0) == 1.0
    # a closure over the outer variable inside the inner derivative
    assert fd.grad(lambda x: fd.grad(lambda y: x * y)(3.0))(2.0) == 1.0
    xs = numpy.array([1.0, 2.0])
    g = fd.grad(lambda x: np.sum(x * fd.grad(lambda y: np.sum(x * y))(x)))(xs)
    numpy.testing.assert_allclose(g, 2 * xs)


def test_example6_hessian_of_norm_cubed(rng):
    x = rng.standard_normal(5)
    r = numpy.linalg.norm(x)
    expected = 3 * numpy.outer(x, x) / r + 3 * r * numpy.eye(5)
    f = lambda x: np.sqrt(np.sum(x * x)) ** 3  # noqa: E731
    numpy.testing.assert_allclose(fd.hessian(f)(x), expected, **EXACT)
    numpy.testing.assert_allclose(fd.jacobian(fd.grad(f))(x), expected, **EXACT)
    numpy.testing.assert_allclose(fd.jacrev(fd.grad(f))(x), expected, **EXACT)


def test_example9_hessian_of_softplus_of_linear(rng):
    a, x = rng.standard_normal(4), rng.standard_normal(4)
    s = 1 / (1 + numpy.exp(-a @ x))
    H = fd.hessian(lambda x: np.log(1 + np.exp(np.dot(a, x))))(x)
    numpy.testing.assert_allclose(H, s * (1 - s) * numpy.outer(a, a), **EXACT)


def test_example10_hessian_of_quadratic(rng):
    A, b, x = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)
    H = fd.hessian(lambda x: 0.5 * x @ A @ x - b @ x + 3.0)(x)
    numpy.testing.assert_allclose(H, 0.5 * (A + A.T), **EXACT)


def test_hessian_of_fifty_variables_closed_form(rng):
    """f(x) = sum_i c_i x_i^4 + (sum x)^2: H = diag(12 c x^2) + 2."""
    c, x = rng.uniform(0.5, 2.0, 50), rng.standard_normal(50)
    H = fd.hessian(lambda x: np.sum(c * x ** 4) + np.sum(x) ** 2)(x)
    numpy.testing.assert_allclose(H, numpy.diag(12 * c * x ** 2) + 2.0, **EXACT)


def test_grad_nested_four_deep_on_scalar_function():
    f = lambda x: x ** 5 * np.exp(x)  # noqa: E731
    d4 = fd.grad(fd.grad(fd.grad(fd.grad(f))))
    x = 0.8
    # (x^5 e^x)'''' = e^x (x^5 + 20x^4 + 120x^3 + 240x^2 + 120x)
    expected = math.exp(x) * (x ** 5 + 20 * x ** 4 + 120 * x ** 3 + 240 * x ** 2 + 120 * x)
    numpy.testing.assert_allclose(d4(x), expected, rtol=1e-12)


def test_hvp_matches_nested_idiom_and_hessian(rng):
    X, y = rng.standard_normal((30, 5)), rng.integers(0, 2, 30).astype(float)
    w, v = rng.standard_normal(5), rng.standard_normal(5)

    def loss(w):
        z = X @ w
        return np.mean(np.log1p(np.exp(-np.abs(z))) + np.maximum(z, 0.0) - y * z)
    lecture_idiom = fd.grad(lambda w: np.vdot(fd.grad(loss)(w), v))(w)
    H = fd.hessian(loss)(w)
    numpy.testing.assert_allclose(fd.hvp(loss, w, v), H @ v, **EXACT)
    numpy.testing.assert_allclose(lecture_idiom, H @ v, **EXACT)
    hvp_fun, g = fd.make_hvp(loss)(w)
    numpy.testing.assert_allclose(hvp_fun(v), H @ v, **EXACT)
    numpy.testing.assert_allclose(g, fd.grad(loss)(w), **EXACT)


def test_jacobians_both_ways(rng):
    A = rng.standard_normal((6, 4))
    f = lambda x: np.tanh(A @ x) + x[0] ** 2  # noqa: E731
    x = rng.standard_normal(4)
    expected = (1 - numpy.tanh(A @ x) ** 2)[:, None] * A
    expected[:, 0] += 2 * x[0]
    for jac in (fd.jacfwd, fd.jacrev, fd.jacobian):
        numpy.testing.assert_allclose(jac(f)(x), expected, **EXACT)


def test_jacobian_shapes(rng):
    X = rng.standard_normal((2, 3))
    J = fd.jacobian(lambda X: np.sin(X).T)(X)
    assert J.shape == (3, 2, 2, 3)
    numpy.testing.assert_allclose(J[1, 0, 0, 1], numpy.cos(X[0, 1]))
    assert fd.jacobian(lambda x: x ** 2)(3.0) == 6.0
    J = fd.jacfwd(lambda x: np.sum(x ** 2))(numpy.arange(3.0))
    numpy.testing.assert_allclose(J, [0.0, 2.0, 4.0])
    Jx, Jy = fd.jacobian(lambda x, y: x * y, (0, 1))(numpy.ones(2), numpy.full(2, 3.0))
    numpy.testing.assert_allclose(Jx, 3 * numpy.eye(2))
    numpy.testing.assert_allclose(Jy, numpy.eye(2))


def test_jvp_and_vjp_are_adjoint(rng):
    """<u, J v> is the same from both modes."""
    A = rng.standard_normal((3, 4))
    f = lambda x: np.exp(A @ np.sin(x))  # noqa: E731
    x, v, u = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(3)
    _, jv = fd.jvp(f, (x,), (v,))
    _, vjp_fun = fd.vjp(f, x)
    (uj,) = vjp_fun(u)
    numpy.testing.assert_allclose(u @ jv, uj @ v, **EXACT)


def test_make_jvp_reuses_one_recording(rng):
    calls = []

    def f(x):
        calls.append(1)
        return np.sin(x) * 2
    x = rng.standard_normal(3)
    jvp_fun = fd.make_jvp(f)(x)
    for v in numpy.eye(3):
        out, t = jvp_fun(v)
        numpy.testing.assert_allclose(t, 2 * numpy.cos(x) * v)
    assert len(calls) == 1


def test_logistic_hessian_float32_stays_float32(rng):
    x = rng.standard_normal(3).astype(numpy.float32)
    H = fd.hessian(lambda x: np.sum(fsp.expit(x) * x))(x)
    assert H.dtype == numpy.float32 and H.shape == (3, 3)


def test_jvp_errors():
    with pytest.raises(ValueError, match="shape"):
        fd.jvp(np.sin, (numpy.ones(3),), (numpy.ones(2),))
    with pytest.raises(ValueError, match="structure"):
        fd.jvp(np.sin, (numpy.ones(3),), ())


@pytest.mark.parametrize("shapes", [((4, 3), (3,)), ((3,), (3, 2)), ((3,), (3,)), ((4, 3), (3, 2)),
                                    ((2, 4, 3), (3, 2)), ((4, 3), (2, 3, 2)), ((3,), (2, 3, 2))],
                         ids=str)
@pytest.mark.parametrize("name", ["matmul", "dot"])
def test_products_all_directions_at_once_match_reverse(name, shapes, rng):
    """The batched JVP rules of the forward sweep (one BLAS call for every
    direction) agree with reverse mode."""
    sa, sb = shapes
    if name == "dot" and (len(sa) > 2 or len(sb) > 2):
        pytest.skip("dot with batch axes is not matmul")
    op = getattr(np, name)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    numpy.testing.assert_allclose(fd.jacfwd(lambda a: op(a, b))(a), fd.jacrev(lambda a: op(a, b))(a),
                                  **EXACT)
    numpy.testing.assert_allclose(fd.jacfwd(lambda b: op(a, b))(b), fd.jacrev(lambda b: op(a, b))(b),
                                  **EXACT)


def _jacobian_cases():
    from test_ops import UNARY, BINARY, sample  # noqa: F401
    cases = [("unary-" + name, name) for name in sorted(UNARY)]
    cases += [("binary-" + name, name) for name in sorted(BINARY)]
    return cases


@pytest.mark.parametrize("case", _jacobian_cases(), ids=lambda c: c[0])
def test_reverse_jacobian_many_cotangents_matches_forward(case, rng):
    """jacrev's one sweep with a cotangent per output equals jacfwd's."""
    from test_ops import UNARY, BINARY, sample
    kind, name = case[0].split("-", 1)[0], case[1]
    fun = getattr(np, name)
    if kind == "unary":
        x = sample(rng, UNARY[name], (2, 3))
        f = fun
    else:
        dx, dy = BINARY[name]
        x, y = sample(rng, dx, (2, 3)), sample(rng, dy, (3,))
        f = lambda a: fun(a, y)  # noqa: E731
        numpy.testing.assert_allclose(fd.jacrev(lambda b: np.sum(fun(x, b), axis=0))(y),
                                      fd.jacfwd(lambda b: np.sum(fun(x, b), axis=0))(y), **EXACT)
    numpy.testing.assert_allclose(fd.jacrev(f)(x), fd.jacfwd(f)(x), **EXACT)


def test_reverse_jacobian_through_reductions_indexing_and_scalars(rng):
    x = rng.standard_normal((3, 4))
    for f in [lambda x: np.sum(x ** 2, axis=1), lambda x: x[1:, ::2] * np.max(x),
              lambda x: np.stack([x[0, 0] * x[1, 1], np.sin(x[2, 3])]),
              lambda x: fd.scipy.special.logsumexp(x, axis=0), lambda x: x @ x.T]:
        numpy.testing.assert_allclose(fd.jacrev(f)(x), fd.jacfwd(f)(x), **EXACT)


def test_nested_jacfwd_sweeps_each_direction_once():
    # each direction's recorded tangent sweep covers the function's own
    # nodes, not those the earlier directions recorded: the tape grew 3x per
    # input (1,048,155 nodes for v[:2] / v[2] at 12 inputs) before
    f = lambda v: v[:2] / v[2]  # noqa: E731
    lengths = [len(fd.record(fd.jacfwd(f), numpy.arange(1.0, n + 1))) for n in (4, 8, 16)]
    assert lengths[2] - lengths[1] == 2 * (lengths[1] - lengths[0])
    g = lambda v: np.sum(fd.jacfwd(lambda u: np.sin(u[:2]) / u[2])(v) ** 2)  # noqa: E731
    x = numpy.arange(1.0, 6.0)
    numpy.testing.assert_allclose(fd.grad(g)(x), fd.numerical_grad(g, x), rtol=1e-7)


SCALAR_UNARY = ["negative", "abs", "square", "sqrt", "cbrt", "reciprocal", "exp", "exp2",
                "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "arcsin",
                "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh"]


@pytest.mark.parametrize("name", SCALAR_UNARY + ["add", "subtract", "multiply", "divide",
                                                 "power", "maximum", "minimum", "arctan2",
                                                 "hypot", "power2", "power1", "power0"])
def test_numeric_and_recorded_scalar_sweeps_round_alike(name):
    # the C sweeps (a top-level jvp/vjp) apply each opcode's derivative with
    # the op table rule's operations, so a nested (recorded) sweep, and a
    # recorded tape of it replayed, give the same bits
    rng = numpy.random.default_rng(3)
    low, high = {"arccosh": (1.1, 5.0)}.get(name, (-0.9, 0.9) if name.startswith("arc") and
                                             name != "arctan2" else (0.1, 3.0))
    if name.startswith("power") and name != "power":
        exponent = float(name[5:])
        funs = [lambda u: np.power(u, exponent)]
    elif name in SCALAR_UNARY:
        funs = [getattr(np, name)]
    else:
        op = getattr(np, name)
        c = 1.7
        funs = [lambda u: op(u, u * 0.5 + 1.0), lambda u: op(u, c), lambda u: op(c, u)]
    for fun in funs:
        for _ in range(60):
            x, t = float(rng.uniform(low, high)), float(rng.normal())
            numeric = fd.jvp(fun, (x,), (t,))[1]
            recorded = fd.jvp(lambda u: fd.jvp(fun, (u,), (t,))[1], (x,), (1.0,))[0]
            assert numeric == recorded or (math.isnan(numeric) and math.isnan(recorded)), x
            numeric = fd.vjp(fun, x)[1](t)[0]
            recorded = fd.jvp(lambda u: fd.vjp(fun, u)[1](t)[0], (x,), (1.0,))[0]
            assert numeric == recorded or (math.isnan(numeric) and math.isnan(recorded)), x


@pytest.mark.parametrize("axis", [0, -1])
def test_tangents_of_stack_and_concatenate_join_every_argument(axis):
    # one joined tangent (batched, numeric and recorded) equals the reverse mode
    def f(v):
        rows = [np.stack([v[i] * v[i + 1], np.sin(v[i])], axis=axis) for i in range(3)]
        return np.concatenate([np.stack(rows, axis=axis), np.reshape(v[:2] ** 2, (1, 2))
                               if axis == 0 else np.reshape(v[:2] ** 2, (2, 1))], axis=axis)
    x = numpy.array([0.3, -1.2, 0.7, 2.0])
    numpy.testing.assert_allclose(fd.jacfwd(f)(x), fd.jacrev(f)(x), rtol=1e-15)
    g = lambda v: np.sum(fd.jacfwd(f)(v) ** 2)  # noqa: E731
    numpy.testing.assert_allclose(fd.grad(g)(x), fd.grad(lambda v: np.sum(fd.jacrev(f)(v) ** 2))(x),
                                  rtol=1e-13)
    tape = fd.record(fd.jacfwd(f), x)
    numpy.testing.assert_array_equal(tape(x * 1.5), fd.jacfwd(f)(x * 1.5))


def test_tangent_of_a_stack_of_scalar_nodes_is_one_gather():
    # element reads and scalar operations stacked: one gather from the sweep's
    # rows, in every mode (numeric jvp, k directions, nested)
    f = lambda x: np.stack([x[i - 1] * x[i] + np.exp(x[i]) for i in range(1, len(x))])  # noqa: E731
    x = numpy.array([0.5, -0.3, 0.8, 1.1])
    v = numpy.array([1.0, 2.0, -1.0, 0.5])
    J = fd.jacrev(f)(x)
    numpy.testing.assert_allclose(fd.jvp(f, (x,), (v,))[1], J @ v, rtol=1e-15)
    numpy.testing.assert_allclose(fd.jacfwd(f)(x), J, rtol=1e-15)
    numpy.testing.assert_allclose(fd.record(f, x).jvp(x, v)[1], J @ v, rtol=1e-15)
    g = lambda x: np.sum(fd.jvp(f, (x,), (v,))[1] ** 2)  # noqa: E731
    numpy.testing.assert_allclose(fd.grad(g)(x), fd.numerical_grad(g, x), rtol=1e-7)


@pytest.mark.parametrize("index", [(slice(1, -1), slice(1, -1)), 2, (Ellipsis, 3),
                                   (None, slice(None, None, 2)), (numpy.array([0, 2, 2]),),
                                   ([1, 3], slice(2, 4)), (slice(None), numpy.array([5, 0]))])
def test_indexing_carries_every_direction_at_once(index):
    # the batched tangent of x[index] indexes behind the direction axis
    x = numpy.arange(24.0).reshape(4, 6) * 0.1
    f = lambda v: np.sin(v[index]) * 2.0  # noqa: E731
    numpy.testing.assert_array_equal(fd.jacfwd(f)(x), fd.jacrev(f)(x))


def test_a_tape_keeps_its_tangent_flags_only_for_the_same_nodes_and_outputs():
    """Tape.forward works out only the array nodes its outputs read, and
    keeps those flags for the next sweep of the same nodes and outputs:
    another output, another start, or nodes recorded since find their own."""
    tape = fd._tape.Tape()
    x = tape.array_leaf(numpy.array([0.5, 1.5, 2.0]))
    s = tape.scalar_leaf(3.0)
    a = np.sum(np.sin(x)) * s  # reads x's sine (an array node)
    b = s * s  # reads no array node
    seeds = [(x, numpy.array([1.0, 0.0, 2.0])), (s, 1.0)]
    expected_a = math.cos(0.5) * 3.0 + 2 * math.cos(2.0) * 3.0 + (
        math.sin(0.5) + math.sin(1.5) + math.sin(2.0))
    for _ in range(2):
        assert tape.forward(0, seeds, [b]) == [6.0]
        assert tape.forward(0, seeds, [a])[0] == pytest.approx(expected_a, rel=1e-14)
        assert tape.forward(0, seeds, [a, b])[1] == 6.0
    c = np.sum(np.exp(x)) + b  # recorded after those sweeps
    expected_c = math.exp(0.5) + 2 * math.exp(2.0) + 6.0
    assert tape.forward(0, seeds, [c])[0] == pytest.approx(expected_c, rel=1e-14)
    assert tape.forward(0, seeds, [a])[0] == pytest.approx(expected_a, rel=1e-14)


@pytest.mark.parametrize("order", ["C", "F"])
def test_scatter_and_reshape_carry_every_direction_at_once(order):
    """untake (the scatter-add of element reads' adjoints in a recorded
    gradient) and reshape/ravel take k directions in one operation: the
    same bits as k sweeps of one direction, repeated indices added in the
    same order."""
    from fastad.ops.shape import ravel, reshape, untake
    tape = fd._tape.Tape()
    x = tape.array_leaf(numpy.array([0.3, -1.2, 0.7, 2.5, 0.1, -0.4]))
    index = (numpy.array([0, 2, 2, 5, 0, 1]),)
    scattered = untake(np.sin(x) * 1.5, index, (6,), numpy.float64)
    out = fd.core._settle(  # (fused arrays are recorded when an operator's function returns)
        ravel(reshape(scattered, (2, 3), order=order) * x.reshape(2, 3), order) ** 2)
    scalar = fd.core._settle(untake(np.sum(np.sin(x)), (), (), numpy.float64) * x[1])  # (0-d)
    directions = numpy.random.default_rng(3).standard_normal((3, 6))
    for y in (out, scalar):
        batched = tape.forward(0, [(x, directions)], [y], 3, True)[0]
        one_by_one = numpy.stack([tape.forward(0, [(x, d)], [y])[0] for d in directions])
        assert batched.tobytes() == one_by_one.tobytes()


def test_a_large_tangent_sweep_reuses_its_rows_zeroed():
    """Past a megabyte, a tape keeps its tangent rows for the next sweep:
    a sweep seeding fewer inputs, or another start, sees zeros where the
    last one left numbers, as a sweep on fresh rows does."""
    tape = fd._tape.Tape()
    xs = [tape.scalar_leaf(0.1 * i) for i in range(4500)]
    total = xs[0]
    for a, b in zip(xs, xs[1:]):
        total = total + np.sin(a) * b  # (18,000 nodes x 8 directions: 1.15 MB of rows)
    rng = numpy.random.default_rng(5)
    for seeded in (4500, 7, 4500, 1):
        seeds = [(x, rng.standard_normal(8)) for x in xs[:seeded]]
        batched = tape.forward(0, seeds, [total], 8, True)[0]
        one_by_one = [tape.forward(0, [(x, t[j]) for x, t in seeds], [total])[0] for j in range(8)]
        assert batched.tobytes() == numpy.array(one_by_one).tobytes()
    late = tape.forward(len(tape) - 2, [(xs[-1], numpy.ones(8))], [total], 8, True)[0]
    assert late.tolist() == [math.sin(xs[-2].value)] * 8
