"""The reverse sweep of a fused node recorded as one fused node
(ops/fused_reverse.py): a nested gradient equals the top-level one to the
bit, its derivatives (tangents in C, the rules beyond) equal the unfused
ones, and recorded tapes of them replay what tracing gives."""
import pickle

import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp
from fastad import _tape
from fastad.ops import fused as fused_ops
from fastad.ops.fused_reverse import reverse_program
from test_fused import UNARY as FUSED_UNARY, logistic_loss, primitive_names, unfused

OP = _tape.FUSED_OPCODES

# (the unary functions of fused programs, and square and sqrt)
UNARY = FUSED_UNARY + [("sqrt", (0.1, 3.0)), ("square", (-3.0, 3.0))]


def _functions(name, c):
    """Scalar functions of x whose programs read `name` with arithmetic
    around it, a leaf read twice, and constants on either side."""
    fun = getattr(fnp, name)
    return [
        lambda x: fnp.sum(fun(x * 1.0) * 1.5),
        lambda x: fnp.sum(fun(x) * x - x / (2.0 + c * c)),
        lambda x: fnp.mean(3.0 / (1.0 + fun(x) * fun(x)) + (x - 0.5) * c),
    ]


@pytest.mark.parametrize("name, domain", UNARY, ids=[name for name, _ in UNARY])
def test_nested_gradient_is_the_top_level_one_to_the_bit(name, domain):
    rng = np.random.default_rng(1)
    x = rng.uniform(*domain, 150)
    c = rng.uniform(0.5, 1.5, 150)
    v = rng.normal(size=150)
    for f in _functions(name, c):
        gradient = fd.grad(f)(x)
        nested, hvp = fd.jvp(fd.grad(f), (x,), (v,))
        np.testing.assert_array_equal(nested, gradient)
        # the HVP (the tangent sweep over the recorded cotangent, in C)
        # against the unfused operations' and central differences of the gradient
        reference = unfused(lambda: fd.hvp(f, x, v))
        np.testing.assert_allclose(hvp, reference, rtol=1e-11, atol=1e-13)
        h = 1e-6
        central = (fd.grad(f)(x + h * v) - fd.grad(f)(x - h * v)) / (2 * h)
        np.testing.assert_allclose(hvp, central, rtol=2e-5, atol=2e-5)


def test_the_cotangent_records_as_one_node():
    """W5's loss: the recorded gradient is X @ w, the loss's program, its
    mean, one program for the cotangent and X.T @ it (no nodes per
    instruction or per rule, no guards for abs's sign or maximum's share)."""
    rng = np.random.default_rng(2)
    loss, w = logistic_loss(rng)
    names = primitive_names(fd.record(fd.grad(loss), w, guard_kinks=False))
    assert names.count("fused") == 2 and "sign" not in names and "maximum" not in names
    v = rng.normal(size=4)
    np.testing.assert_allclose(fd.hvp(loss, w, v), unfused(lambda: fd.hvp(loss, w, v)),
                               rtol=1e-12)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_extrema_shares_and_ties(name):
    """maximum/minimum with a float, a constant array and a traced array,
    ties and NaN: the recorded cotangent routes the derivative as the
    numeric sweep does (half each on a tie)."""
    fun = getattr(fnp, name)
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0, 1.0, 3.0, -0.0])
    c = np.array([0.0, 1.0, 0.0, -1.0, 2.0, 1.5, 0.5, 0.0])
    g = np.arange(1.0, 9.0)
    cases = [lambda x: fun(x, 0.0) * x, lambda x: fun(x * 1.0, c) * x,
             lambda x: fun(x * 2.0, x + x) * x, lambda x: fun(x, x) * x,
             lambda x: fun(fnp.sin(x), fnp.cos(x)) * x]
    for f in cases:
        total = lambda x: fnp.sum(f(x))  # noqa: E731
        np.testing.assert_array_equal(fd.jvp(fd.grad(total), (x,), (g,))[0], fd.grad(total)(x))
        np.testing.assert_array_equal(fd.hvp(total, x, g), unfused(lambda: fd.hvp(total, x, g)))
        # an array cotangent (not a sum's): the VJP's own program
        vjp = lambda x: fd.make_vjp(f)(x)[0](g)  # noqa: E731
        np.testing.assert_array_equal(fd.jvp(vjp, (x,), (g,))[0], vjp(x))
        np.testing.assert_array_equal(fd.jvp(vjp, (x,), (g,))[1],
                                      unfused(lambda: fd.jvp(vjp, (x,), (g,))[1]))
    nan = np.array([np.nan, 1.0])
    total = lambda x: fnp.sum(fun(x, 0.0) * x)  # noqa: E731
    np.testing.assert_array_equal(fd.jvp(fd.grad(total), (nan,), (np.ones(2),))[0],
                                  fd.grad(total)(nan))


def test_higher_orders_over_the_recorded_cotangent():
    """The cotangent's own node differentiated again: numerically in C by a
    reverse sweep (its sign and comparisons pass nothing), and by the rules
    in a third nesting."""
    rng = np.random.default_rng(3)
    x, v = rng.uniform(-2.0, 2.0, 40), rng.normal(size=40)
    c = rng.uniform(-1.0, 1.0, 40)

    def f(x):
        return fnp.sum(fnp.log1p(fnp.exp(-fnp.abs(x))) + fnp.maximum(x, c) * fnp.tanh(x))

    def grad_dot_v(x):
        return fnp.sum(fd.grad(f)(x) * v)

    np.testing.assert_allclose(fd.grad(grad_dot_v)(x), unfused(lambda: fd.grad(grad_dot_v)(x)),
                               rtol=1e-12, atol=1e-14)
    third = lambda x: fnp.sum(fd.hvp(f, x, v) ** 2)  # noqa: E731
    np.testing.assert_allclose(fd.grad(third)(x), unfused(lambda: fd.grad(third)(x)),
                               rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fd.hessian(f)(x), unfused(lambda: fd.hessian(f)(x)),
                               rtol=1e-12, atol=1e-14)


def test_recorded_tapes_replay_what_tracing_gives():
    rng = np.random.default_rng(4)
    c = rng.uniform(-1.0, 1.0, 30)

    def f(x):
        return fnp.sum(fnp.maximum(fnp.cosh(x) - 1.5, c) ** 2 + fnp.abs(x) * fnp.sin(x))

    x0 = rng.uniform(0.2, 1.0, 30)
    v = rng.normal(size=30)
    tape = fd.record(lambda x: fd.hvp(f, x, v), x0)
    x1 = x0 * 1.0001  # (the branches of abs and maximum stay those recorded)
    np.testing.assert_array_equal(tape(x1), fd.hvp(f, x1, v))
    np.testing.assert_array_equal(fd.record(fd.grad(f), x0)(x1), fd.grad(f)(x1))
    with pytest.raises(fd.RetapeRequired):
        tape(-x0)
    np.testing.assert_array_equal(fd.record(lambda x: fd.hvp(f, x, v), x0, retape=True)(-x0),
                                  fd.hvp(f, -x0, v))


def test_program_of_a_cotangent():
    """reverse_program: the C sweep's expressions, only the instructions
    the leaf's cotangent reads, its leaves renumbered; None where the
    cotangent is a leaf or a constant (the rules do those)."""
    exp, mul, add = OP["exp"], OP["multiply"], OP["add"]
    program = ((exp, 0, None, 0.0), (mul, 2, 1, 0.0))  # exp(x) * y
    code, reads = reverse_program(program, 2, 1, True)  # d/dy of the sum: exp(x) * g
    assert reads == (0, 2) and code == ((exp, 0, None, 0.0), (mul, 2, 1, 0.0))
    assert reverse_program(((add, 0, 1, 0.0),), 2, 0, False) is None  # d/dx (x + y) = g
    assert reverse_program(((add, 0, 1, 0.0),), 2, 0, True) is None  # 1 * g
    a, b = np.linspace(0.5, 1.5, 9), np.linspace(-1.0, 1.0, 9)
    for position in (0, 1):
        code, reads = reverse_program(program, 2, position, False)
        g = np.linspace(1.0, 2.0, 9)
        leaves = [a, b, g]
        expected = fused_ops._vjp(position, g, None, a, b, program=program)
        np.testing.assert_array_equal(
            _tape.fused_eval(code, tuple(leaves[r] for r in reads), False), expected)


def test_sign_and_comparisons_in_programs():
    """The opcodes no derivative flows through: values as NumPy's (1.0 or
    0.0 for a comparison), and a register read only by them gets no
    cotangent in the C sweep (zeros for a leaf), as in the rules."""
    x = np.array([-1.5, -0.0, 0.0, 2.0, np.nan])
    y = np.array([-1.5, 1.0, -0.0, 1.0, 1.0])
    np.testing.assert_array_equal(_tape.fused_eval(((OP["sign"], 0, None, 0.0),), (x,), False),
                                  np.sign(x))
    for name in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"):
        ufunc = getattr(np, name)
        np.testing.assert_array_equal(
            _tape.fused_eval(((OP[name], 0, 1, 0.0),), (x, y), False), ufunc(x, y).astype(float))
        np.testing.assert_array_equal(
            _tape.fused_eval(((OP[name], 0, None, 1.0),), (x,), False), ufunc(x, 1.0).astype(float))
    # exp(x) * (x > 0) + y: x's cotangent through exp only; y's is g
    program = ((OP["exp"], 0, None, 0.0), (OP["greater"], 0, None, 0.0), (OP["multiply"], 2, 3, 0.0),
               (OP["add"], 4, 1, 0.0))
    a, b = np.linspace(-1.0, 1.0, 300), np.linspace(0.0, 1.0, 300)
    f = lambda a, b: fnp.sum(fused_ops.fused(a, b, program=program))  # noqa: E731
    da, db = fd.grad(f, (0, 1))(a, b)
    np.testing.assert_array_equal(da, np.exp(a) * (a > 0))
    np.testing.assert_array_equal(db, np.ones(300))
    expected = fused_ops._vjp(0, 1.0, None, a, b, program=program, total=False)
    np.testing.assert_array_equal(da, expected)
    # a leaf read only by a comparison gets zeros; its tangent reaches nothing
    only = ((OP["greater"], 0, None, 0.0), (OP["multiply"], 2, 1, 0.0))
    g = lambda a, b: fnp.sum(fused_ops.fused(a, b, program=only))  # noqa: E731
    da, db = fd.grad(g, (0, 1))(a, b)
    np.testing.assert_array_equal(da, np.zeros(300))
    np.testing.assert_array_equal(db, (a > 0).astype(float))
    assert fd.jvp(lambda a: g(a, b), (a,), (np.ones(300),))[1] == 0.0


def test_an_accumulated_leaf_gets_its_whole_cotangent_at_once():
    """Regression: the C reverse step added each contribution of a leaf the
    program reads twice straight into an adjoint holding others ((a + c1)
    + c2), where a recorded sweep forms the cotangent first (a + (c1 +
    c2)): grad(grad(grad f)) differed from its recorded tape in the last bit."""
    def f(u):
        return (fnp.sum(fnp.sin(fnp.array([u, u * u, 2.0])) ** 2) * fnp.tanh(u)
                + fnp.stack([u, u ** 3])[1] / (1.0 + u))

    third = fd.grad(fd.grad(fd.grad(f)))
    x = 0.45 * 1.1
    assert fd.record(third, 0.45)(x) == third(x)
    rng = np.random.default_rng(5)
    c = rng.uniform(0.5, 1.5, 200)

    def g(x):
        y = x * 1.0  # (an array node whose adjoint both programs below add to)
        return fnp.sum(fnp.sin(y) * y * c) + fnp.sum(fnp.exp(y) * y)

    x = rng.uniform(-1.0, 1.0, 200)
    gradient = fd.grad(g)(x)
    np.testing.assert_array_equal(fd.jvp(fd.grad(g), (x,), (c,))[0], gradient)
    np.testing.assert_array_equal(fd.record(fd.grad(g), x)(x), gradient)
    np.testing.assert_array_equal(fd.record(g, x).gradient(x), gradient)


def test_cotangent_programs_pickle_and_take_every_sweep():
    """Tapes holding recorded cotangent programs (sign and comparisons
    among their opcodes) pickle and replay; Taylor series, batched tangents
    and stacked cotangents go through them."""
    rng = np.random.default_rng(6)
    c = rng.uniform(-1.0, 1.0, 20)

    def f(x):
        return fnp.sum(fnp.log1p(fnp.exp(-fnp.abs(x))) + fnp.maximum(x, c) * x)

    x, v = rng.uniform(0.2, 1.0, 20), rng.normal(size=20)
    tape = fd.record(fd.grad(f), x)
    assert primitive_names(tape).count("fused") >= 2
    x1 = x * 1.0001
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(tape))(x1), tape(x1))
    series = fd.taylor(fd.grad(f), x, v, 2)
    np.testing.assert_array_equal(series[0], fd.grad(f)(x))
    reference = unfused(lambda: fd.taylor(fd.grad(f), x, v, 2))
    np.testing.assert_allclose(series[1], fd.hvp(f, x, v), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(series[1], reference[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(series[2], reference[2], rtol=1e-10, atol=1e-13)
    hessian = fd.hessian(f)(x)
    np.testing.assert_allclose(hessian, unfused(lambda: fd.hessian(f)(x)), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(fd.jacrev(fd.grad(f))(x), hessian, rtol=1e-12, atol=1e-14)
    directions = rng.normal(size=(3, 20))
    np.testing.assert_allclose(fd.vmap(lambda v: fd.hvp(f, x, v))(directions),
                               directions @ hessian, rtol=1e-12, atol=1e-13)


def _random_expression(rng, x, y, depth):
    """A random elementwise expression of x and y: every arithmetic opcode
    with traced operands on either side and constants, the functions on
    safe domains (squashed by tanh first), extrema with ties."""
    if depth == 0:
        return [x, y, x * 0.5][rng.integers(3)]
    a = _random_expression(rng, x, y, depth - 1)
    b = _random_expression(rng, x, y, depth - 1)
    choice = rng.integers(12)
    if choice == 0:
        return a + b
    if choice == 1:
        return a - b
    if choice == 2:
        return a * b
    if choice == 3:
        return a / (2.0 + fnp.tanh(b))
    if choice == 4:
        return 1.5 - a / 3.0
    if choice == 5:
        return 2.0 / (1.5 + fnp.tanh(a))
    if choice == 6:
        return fnp.maximum(a, b)
    if choice == 7:
        return fnp.minimum(a, 0.25)
    if choice == 8:
        return fnp.abs(a) * b
    if choice == 9:
        return fnp.sqrt(1.0 + a * a)
    if choice == 10:
        return fnp.log1p(fnp.exp(-fnp.abs(a)))
    return fnp.sin(a) * fnp.cos(b) + fnp.square(a)


@pytest.mark.parametrize("seed", range(40))
def test_random_programs(seed):
    """Random programs: the nested gradient is the top-level one to the bit
    (both arguments), the HVP the unfused one, the cotangent recorded."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-1.5, 1.5, 30), rng.uniform(-1.5, 1.5, 30)
    y[:3] = x[:3]  # (ties for maximum and minimum)
    v = rng.normal(size=30)
    depth = int(rng.integers(1, 4))
    expression_seed = int(rng.integers(1 << 30))

    def f(x, y):
        return fnp.sum(_random_expression(np.random.default_rng(expression_seed), x, y, depth))

    for argnum in (0, 1):
        gradient = fd.grad(f, argnum)
        top = gradient(x, y)
        if argnum == 0:
            nested, hvp = fd.jvp(lambda x: gradient(x, y), (x,), (v,))
        else:
            nested, hvp = fd.jvp(lambda y: gradient(x, y), (y,), (v,))
        np.testing.assert_array_equal(nested, top)
        reference = unfused(lambda: fd.jvp(lambda x: gradient(x, y), (x,), (v,))[1] if argnum == 0
                            else fd.jvp(lambda y: gradient(x, y), (y,), (v,))[1])
        np.testing.assert_allclose(hvp, reference, rtol=1e-10, atol=1e-12)
    # the recorded tangent programs: forward-over-forward and reverse-over-forward
    def tangent(x):
        return fd.jvp(lambda x: f(x, y), (x,), (v,))[1]
    second = fd.jvp(tangent, (x,), (v[::-1],))[1]
    np.testing.assert_allclose(second, unfused(lambda: fd.jvp(tangent, (x,), (v[::-1],))[1]),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fd.grad(tangent)(x), unfused(lambda: fd.grad(tangent)(x)),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name, domain", UNARY, ids=[name for name, _ in UNARY])
def test_nested_tangent_is_the_top_level_one_to_the_bit(name, domain):
    """A recorded tangent sweep records a fused node's tangent as one more
    program (forward-over-forward, reverse-over-forward): the nested
    tangent equals the top-level one to the bit, its derivatives the
    unfused ones."""
    rng = np.random.default_rng(7)
    x = rng.uniform(*domain, 150)
    c = rng.uniform(0.5, 1.5, 150)
    u, v = rng.normal(size=150), rng.normal(size=150)
    fun = getattr(fnp, name)
    for f in _functions(name, c) + [lambda x: fun(x) * x - c / (2.0 + x * x)]:
        def tangent(x):
            return fd.jvp(f, (x,), (v,))[1]
        nested, second = fd.jvp(tangent, (x,), (u,))
        np.testing.assert_array_equal(nested, tangent(x))
        # (where the exact answer is 0, as for reciprocal(x) * x, either
        # side may round to a few ulp of the terms it cancels)
        np.testing.assert_allclose(second, unfused(lambda: fd.jvp(tangent, (x,), (u,))[1]),
                                   rtol=1e-11, atol=1e-11)
        scalar = lambda x: fnp.sum(tangent(x) * c)  # noqa: E731
        np.testing.assert_allclose(fd.grad(scalar)(x), unfused(lambda: fd.grad(scalar)(x)),
                                   rtol=1e-11, atol=1e-11)
