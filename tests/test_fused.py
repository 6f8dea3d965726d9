"""Fused programs: arithmetic on large float64 arrays recorded as one node.

Every test compares the fused result with the same function recorded op by
op (fusion off), and with central differences or a peer where it matters.
Fusion is forced on arrays of every size here (threshold 0)."""
import pickle
import threading

import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp
from fastad import _tape
from fastad.ops import fused as fused_ops
from scipy.optimize import rosen, rosen_der

OP = _tape.FUSED_OPCODES


@pytest.fixture
def fusion():
    previous = _tape.set_fusion_threshold(0)
    yield
    _tape.set_fusion_threshold(previous)


def unfused(call):
    previous = _tape.set_fusion_threshold(-1)
    try:
        return call()
    finally:
        _tape.set_fusion_threshold(previous)


def rosen_fnp(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def expression(x, y):
    """Every fused opcode, constants on both sides, a shared subexpression."""
    s = x * y
    t = (s - 2.5) / (1.0 + y * y) + 3.0 / (2.0 + x * x) - (-s) * 0.5
    u = fnp.sqrt(t * t + 1.0) + (4.0 - x) - s / 3.0 + (t + 0.25) * s
    return fnp.square(u) + 2.0 * u


def test_rosenbrock_value_is_numpys_and_gradient_is_rosen_der(fusion):
    x = np.random.default_rng(0).uniform(-1.0, 1.0, 100_001)
    value, gradient = fd.value_and_grad(rosen_fnp)(x)
    assert value == rosen(x)  # bit for bit: NumPy's operations and pairwise sum
    np.testing.assert_allclose(gradient, rosen_der(x), rtol=1e-13, atol=1e-11)
    # the large default threshold fuses this size too
    _tape.set_fusion_threshold(1 << 16)
    assert fd.value_and_grad(rosen_fnp)(x)[0] == rosen(x)


@pytest.mark.parametrize("shape", [(1,), (7,), (8,), (129,), (1000,), (4, 5), (2, 3, 50)])
def test_fused_equals_op_by_op(shape, fusion):
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0.5, 2.0, shape), rng.uniform(-2.0, 2.0, shape)

    def f(x, y):
        return fnp.sum(expression(x, y))

    fused_value, fused_grads = fd.value_and_grad(f, (0, 1))(x, y)
    value, grads = unfused(lambda: fd.value_and_grad(f, (0, 1))(x, y))
    assert fused_value == value
    for a, b in zip(fused_grads, grads):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)
    # an elementwise output (a materialized program), then its VJP
    back, out = fd.make_vjp(lambda x, y: expression(x, y), (0, 1))(x, y)
    back_unfused, reference = unfused(lambda: fd.make_vjp(lambda x, y: expression(x, y), (0, 1))(x, y))
    np.testing.assert_array_equal(out, reference)
    g = rng.normal(size=shape)
    for a, b in zip(back(g), unfused(lambda: back_unfused(g))):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


def test_against_central_differences(fusion):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0.5, 2.0, 40), rng.uniform(-2.0, 2.0, 40)
    fd.check_grads(lambda x, y: fnp.sum(expression(x, y)), x, y, modes=("rev",), order=1)


def test_sum_rounds_as_numpy(fusion):
    rng = np.random.default_rng(3)
    for n in list(range(1, 40)) + [127, 128, 129, 255, 256, 257, 1000, 4097, 65_537, 300_001]:
        x = rng.normal(size=n) * 10.0 ** rng.integers(-5, 5, size=n)
        value = fd.value_and_grad(lambda x: fnp.sum(x * 1.0 + 0.0))(x)[0]
        assert value == np.sum(x), n
    x = np.full(5, -0.0)
    assert np.signbit(fd.value_and_grad(lambda x: fnp.sum(x * 1.0))(x)[0]) == np.signbit(np.sum(x))
    x = rng.normal(size=(3, 40, 7))
    assert fd.value_and_grad(lambda x: fnp.sum(x * x))(x)[0] == np.sum(x * x)
    # mean (a squared error): the fused sum divided by the count, as numpy.mean
    y = rng.normal(size=(3, 40, 7))
    value, g = fd.value_and_grad(lambda x: fnp.mean((x - y) ** 2))(x)
    assert value == np.mean((x - y) ** 2)
    np.testing.assert_allclose(g, 2 * (x - y) / x.size, rtol=1e-14)


def test_slices_write_into_the_arrays_adjoint(fusion):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 20))

    def f(x):
        # C-contiguous blocks (rows), a strided slice (columns) and another
        # consumer of x itself, all into one adjoint
        inner = x[1:] * x[:-1] - x[2:, :].sum() * 0.0
        cols = x[:, 1:] - x[:, :-1]
        whole = x[:] * x + x[::1]  # a view of all of x beside x itself, in one program
        return (fnp.sum(inner * inner) + fnp.sum(cols * cols) + fnp.sum(fnp.exp(x) * 0.1)
                + fnp.sum(whole * whole))

    np.testing.assert_allclose(fd.grad(f)(x), unfused(lambda: fd.grad(f)(x)), rtol=1e-13)
    fd.check_grads(f, x, modes=("rev",), order=1)


def test_long_expressions_split_into_programs(fusion):
    x = np.linspace(0.1, 1.0, 50)

    def f(x):
        y = x
        for _ in range(300):
            y = y * 0.999 + x * 0.001
        return fnp.sum(y * y)

    np.testing.assert_allclose(fd.grad(f)(x), unfused(lambda: fd.grad(f)(x)), rtol=1e-12)


def test_pending_arrays_behave_as_arrays(fusion):
    x = np.linspace(0.0, 1.0, 12).reshape(3, 4)
    seen = {}

    def f(x):
        y = x * 2.0 + 1.0
        seen["shape"], seen["ndim"], seen["size"], seen["dtype"] = y.shape, y.ndim, y.size, y.dtype
        seen["len"] = len(y)
        seen["repr"] = repr(y)
        z = y[1, 2] * y  # an element read evaluates the program
        return fnp.sum(z * fnp.exp(y))

    g = fd.grad(f)(x)
    assert seen["shape"] == (3, 4) and seen["ndim"] == 2 and seen["size"] == 12
    assert seen["dtype"] == np.float64 and seen["len"] == 3 and "Array(" in seen["repr"]
    np.testing.assert_allclose(g, unfused(lambda: fd.grad(f)(x)), rtol=1e-13)


def test_pending_outputs_and_escapes(fusion):
    x = np.linspace(0.0, 1.0, 10)
    np.testing.assert_allclose(fd.elementwise_grad(lambda x: x * x + x)(x), 2 * x + 1)
    np.testing.assert_allclose(fd.jacobian(lambda x: x * x - 3.0 * x)(x), np.diag(2 * x - 3))
    kept = []
    fd.grad(lambda x: kept.append(x * 3.0) or fnp.sum(x))(x)
    # an escaped pending array still evaluates (to its value), as escaped arrays read theirs
    np.testing.assert_array_equal(kept[0].value, x * 3.0)
    with pytest.raises(fd.TracerError):
        kept[0] + 1.0


def test_second_order_through_fused_nodes(fusion):
    """Fused nodes of an outer level swept by a nested reverse sweep (their
    rule expands the program) and a nested sweep's own fused work."""
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 1.5, 6)

    def outer(x):
        y = x * x + 1.0  # pending in the outer level, evaluated inside the inner one
        inner = fd.grad(lambda z: fnp.sum(z * y * z))(x)
        return fnp.sum(inner * inner)

    expected = unfused(lambda: fd.grad(outer)(x))
    np.testing.assert_allclose(fd.grad(outer)(x), expected, rtol=1e-12)
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")

    def outer_autograd(x):
        y = x * x + 1.0
        inner = autograd.grad(lambda z: anp.sum(z * y * z))(x)
        return anp.sum(inner * inner)

    np.testing.assert_allclose(expected, autograd.grad(outer_autograd)(x), rtol=1e-12)
    np.testing.assert_allclose(fd.hessian(rosen_fnp)(x), unfused(lambda: fd.hessian(rosen_fnp)(x)),
                               rtol=1e-12)
    np.testing.assert_allclose(fd.grad(lambda x: fnp.sum(fd.grad(rosen_fnp)(x) ** 2))(x),
                               unfused(lambda: fd.grad(lambda x: fnp.sum(fd.grad(rosen_fnp)(x) ** 2))(x)),
                               rtol=1e-12)


PROGRAM = ((OP["multiply"], 0, 1, 0.0), (OP["add_constant"], 2, None, 1.5),
           (OP["constant_divide"], 3, None, 2.0), (OP["sqrt"], 3, None, 0.0),
           (OP["subtract"], 4, 5, 0.0), (OP["square"], 6, None, 0.0),
           (OP["divide_constant"], 7, None, 3.0), (OP["constant_minus"], 8, None, 1.0),
           (OP["negative"], 9, None, 0.0), (OP["true_divide"], 10, 0, 0.0),
           (OP["multiply_constant"], 11, None, 0.5))


@pytest.mark.parametrize("total", [False, True])
def test_expanding_rules_against_central_differences(total):
    """The rules other sweeps use (VJP, JVP, batched, Taylor) against central
    differences of the C evaluation."""
    rng = np.random.default_rng(6)
    a, b = rng.uniform(0.5, 2.0, 5), rng.uniform(0.5, 2.0, 5)
    fun = fused_ops._fused_fun
    ans = fun(a, b, program=PROGRAM, total=total)
    np.testing.assert_allclose(ans, fused_ops._values(PROGRAM, [a, b])[-1].sum() if total
                               else fused_ops._values(PROGRAM, [a, b])[-1], rtol=1e-15)
    eps = 1e-6
    for position in (0, 1):
        t = rng.normal(size=5)
        leaves = [a, b]
        plus, minus = list(leaves), list(leaves)
        plus[position] = leaves[position] + eps * t
        minus[position] = leaves[position] - eps * t
        numeric = (fun(*plus, program=PROGRAM, total=total)
                   - fun(*minus, program=PROGRAM, total=total)) / (2 * eps)
        jvp = fused_ops._jvp(position, t, ans, a, b, program=PROGRAM, total=total)
        np.testing.assert_allclose(jvp, numeric, rtol=1e-6, atol=1e-8)
        g = 1.7 if total else rng.normal(size=5)
        vjp = fused_ops._vjp(position, g, ans, a, b, program=PROGRAM, total=total)
        np.testing.assert_allclose(np.sum(vjp * t), np.sum(g * numeric), rtol=1e-6)
        # stacked (batched sweeps): two cotangents at once
        gs = np.stack([np.ones_like(a), 2 * np.ones_like(a)]) if not total else np.array([1.0, 2.0])
        both = fused_ops._vjp(position, gs, ans, a, b, program=PROGRAM, total=total)
        one = fused_ops._vjp(position, 1.0 if total else np.ones_like(a), ans, a, b,
                             program=PROGRAM, total=total)
        np.testing.assert_allclose(both, np.stack([one, 2 * one]), rtol=1e-14)
    # Taylor: the first coefficient is the JVP along the line's direction
    ta, tb = rng.normal(size=5), rng.normal(size=5)
    parents = {0: np.stack([a, ta, np.zeros(5)]), 1: np.stack([b, tb, np.zeros(5)])}
    series = fused_ops._taylor(parents, 2, ans, a, b, program=PROGRAM, total=total)
    line = lambda s: fun(a + s * ta, b + s * tb, program=PROGRAM, total=total)
    h = 1e-4
    np.testing.assert_allclose(series[0], ans, rtol=1e-14)
    np.testing.assert_allclose(series[1], (line(h) - line(-h)) / (2 * h), rtol=1e-6)
    np.testing.assert_allclose(series[2], (line(h) - 2 * ans + line(-h)) / (2 * h * h), rtol=1e-4)


def test_c_reverse_step_equals_expanding_rule(fusion):
    rng = np.random.default_rng(7)
    a, b = rng.uniform(0.5, 2.0, 300), rng.uniform(0.5, 2.0, 300)
    grads = fd.grad(lambda a, b: fnp.sum(fused_ops._values(PROGRAM, [a, b])[-1]), (0, 1))(a, b)
    for position in (0, 1):
        np.testing.assert_allclose(
            grads[position], fused_ops._vjp(position, 1.0, None, a, b, program=PROGRAM, total=True),
            rtol=1e-14)


def test_malformed_programs_are_refused():
    x = np.ones(4)
    with pytest.raises(ValueError, match="invalid instruction"):
        _tape.fused_eval(((99, 0, None, 0.0),), (x,), False)
    with pytest.raises(ValueError, match="invalid instruction"):
        _tape.fused_eval(((OP["add"], 0, 5, 0.0),), (x,), False)  # reads an undefined register
    with pytest.raises(ValueError, match="invalid instruction"):
        # instruction 0's result is never read: the reverse sweep would read an unset row
        _tape.fused_eval(((OP["negative"], 0, None, 0.0), (OP["negative"], 0, None, 0.0)), (x,), False)
    with pytest.raises(ValueError, match="invalid instruction"):
        _tape.fused_eval(((OP["negative"], 0, 0, 0.0),), (x,), False)  # a unary opcode with b
    with pytest.raises(ValueError, match="malformed"):
        _tape.fused_eval((("add", 0, None),), (x,), False)
    with pytest.raises(ValueError, match="differ in size"):
        _tape.fused_eval(((OP["add"], 0, 1, 0.0),), (x, np.ones(5)), False)


def test_not_fused_where_it_does_not_apply(fusion):
    """float32 and broadcasting go op by op, with the same results; recorded
    tapes fuse, replay and pickle their programs."""
    x32 = np.linspace(0.0, 1.0, 8, dtype=np.float32)
    g = fd.grad(lambda x: fnp.sum(x * x + 1.0))(x32)
    assert g.dtype == np.float32
    x, row = np.linspace(0.0, 1.0, 12).reshape(3, 4), np.arange(4.0)
    np.testing.assert_allclose(fd.grad(lambda x: fnp.sum((x * 2.0 + row) ** 2))(x),
                               2 * (2 * x + row) * 2)
    tape = fd.record(rosen_fnp, np.full(5, 0.5))
    assert any(tape._tape.ext(i) is not None and tape._tape.ext(i).primitive is not None
               and tape._tape.ext(i).primitive.name == "fused" for i in range(len(tape._tape)))
    np.testing.assert_allclose(tape.gradient(np.full(5, 0.3)), rosen_der(np.full(5, 0.3)), rtol=1e-13)
    assert pickle.loads(pickle.dumps(tape))(np.full(5, 0.3)) == rosen(np.full(5, 0.3))


def test_threads(fusion):
    rng = np.random.default_rng(8)
    points = [rng.uniform(-1.0, 1.0, 2000) for _ in range(4)]
    results = [None] * 4

    def work(i):
        for _ in range(20):
            results[i] = fd.grad(rosen_fnp)(points[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p, r in zip(points, results):
        np.testing.assert_allclose(r, rosen_der(p), rtol=1e-13, atol=1e-11)


@pytest.mark.parametrize("total", [False, True])
def test_floating_point_exceptions_follow_numpys_error_state(total, fusion):
    """Division by zero, overflow and invalid operations in a fused
    evaluation warn, raise or stay silent under numpy.errstate exactly as
    the operations do one by one, with the same values."""
    import warnings

    x = np.array([1.0, 0.0, -1.0, 1e300, 2.0])

    def f(x):
        y = 1.0 / x + x * x - fnp.sqrt(x - 1.5)
        return fnp.sum(y) if total else y

    def forward():  # (the forward evaluation only: make_vjp records it)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with np.errstate(all="warn"):
                value = fd.make_vjp(f)(x)[1]
        return value, sorted(str(w.message) for w in caught)

    fused_value, fused_warnings = forward()
    plain_value, plain_warnings = unfused(forward)
    np.testing.assert_array_equal(fused_value, plain_value)
    assert fused_warnings == plain_warnings
    assert {"divide by zero encountered in divide", "overflow encountered in multiply",
            "invalid value encountered in sqrt"} <= set(fused_warnings)
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError, match="divide by zero"):
            fd.make_vjp(f)(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="ignore"):
            np.testing.assert_array_equal(fd.make_vjp(f)(x)[1], plain_value)


# -- the unary functions, maximum and minimum, constant arrays -----------------------

#: (name, a safe domain) of every unary function that fuses
UNARY = [("exp", (-3.0, 3.0)), ("exp2", (-3.0, 3.0)), ("expm1", (-3.0, 3.0)),
         ("log", (0.1, 3.0)), ("log1p", (-0.5, 3.0)), ("log2", (0.1, 3.0)),
         ("log10", (0.1, 3.0)), ("sin", (-3.0, 3.0)), ("cos", (-3.0, 3.0)),
         ("tan", (-1.2, 1.2)), ("arcsin", (-0.9, 0.9)), ("arccos", (-0.9, 0.9)),
         ("arctan", (-3.0, 3.0)), ("sinh", (-3.0, 3.0)), ("cosh", (-3.0, 3.0)),
         ("tanh", (-3.0, 3.0)), ("arcsinh", (-3.0, 3.0)), ("arccosh", (1.1, 3.0)),
         ("arctanh", (-0.9, 0.9)), ("cbrt", (0.1, 3.0)), ("reciprocal", (0.5, 3.0)),
         ("absolute", (-3.0, 3.0))]


def test_every_unary_function_fuses():
    assert {name for name, _ in UNARY} <= set(OP)


@pytest.mark.parametrize("name, domain", UNARY, ids=[name for name, _ in UNARY])
@pytest.mark.parametrize("size", [1, 10, 129, 1000])
def test_unary_functions_fused_equal_numpy_and_op_by_op(name, domain, size, fusion):
    """Values are NumPy's to the bit (its own inner loop runs), gradients,
    tangents and Jacobians are the unfused ones."""
    fun = getattr(fnp, name)
    x = np.random.default_rng(11).uniform(*domain, size)

    def f(x):
        return fun(x * 1.0) * 1.5

    value = fd.make_vjp(f)(x)[1]
    np.testing.assert_array_equal(value, getattr(np, name)(x) * 1.5)
    g = np.random.default_rng(12).normal(size=size)
    for operator in (lambda: fd.make_vjp(f)(x)[0](g), lambda: fd.jvp(f, (x,), (g,))[1],
                     lambda: fd.grad(lambda x: fnp.sum(f(x)))(x)):
        # (the same expressions; the unfused C step of sin, cos, sinh and cosh
        # calls the C library's cos ..., a few ulp from NumPy's SIMD loops)
        np.testing.assert_array_max_ulp(operator(), unfused(operator), maxulp=4)
    if size <= 129:
        np.testing.assert_allclose(fd.jacobian(f)(x), unfused(lambda: fd.jacobian(f)(x)),
                                   rtol=1e-15, atol=0)
    expected = fd.numerical_grad(lambda v: np.sum(getattr(np, name)(v) * 1.5), x)
    np.testing.assert_allclose(fd.grad(lambda x: fnp.sum(f(x)))(x), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_extrema_fuse_with_floats_arrays_and_ties(name, fusion):
    """maximum/minimum with a float, a constant array or a traced array: the
    derivative goes to the operand that is the result, half each on a tie
    (as op by op), and NaN propagates as NumPy's."""
    fun, plain = getattr(fnp, name), getattr(np, name)
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0, 1.0, np.nan, 3.0])
    c = np.array([0.0, 1.0, 0.0, -1.0, 2.0, 1.5, 0.0, np.nan])
    cases = [lambda x: fun(x, 0.0), lambda x: fun(x * 1.0, c), lambda x: fun(c, x * 1.0),
             lambda x: fun(x * 2.0, x + x), lambda x: fun(x, x)]
    for f in cases:
        value = fd.make_vjp(f)(x)[1]
        reference = unfused(lambda: fd.make_vjp(f)(x)[1])
        np.testing.assert_array_equal(value, reference)
        g = np.arange(1.0, 9.0)
        np.testing.assert_array_equal(fd.make_vjp(f)(x)[0](g),
                                      unfused(lambda: fd.make_vjp(f)(x)[0](g)))
        np.testing.assert_array_equal(fd.jvp(f, (x,), (g,))[1],
                                      unfused(lambda: fd.jvp(f, (x,), (g,))[1]))
    np.testing.assert_array_equal(fd.make_vjp(lambda x: fun(x, 0.0))(x)[1], plain(x, 0.0))
    assert fd.grad(lambda x: fnp.sum(fun(x, x)))(np.ones(3)).tolist() == [1.0, 1.0, 1.0]


def test_constant_arrays_are_leaves(fusion):
    """Untraced arrays of the traced array's shape (any real dtype NumPy casts
    to float64) join the program as leaves without a derivative."""
    rng = np.random.default_rng(13)
    x = rng.uniform(-1.0, 1.0, (4, 5))
    for constant in (rng.normal(size=(4, 5)), np.arange(20).reshape(4, 5),
                     rng.normal(size=(4, 5)).astype(np.float32), np.eye(4, 5, dtype=bool),
                     np.asfortranarray(rng.normal(size=(4, 5)))):
        def f(x):
            return fnp.sum(fnp.exp(x * constant) - constant / (2.0 + x) + (constant - x) * x)

        value, grad = fd.value_and_grad(f)(x)
        reference = unfused(lambda: fd.value_and_grad(f)(x))
        assert value == reference[0]
        np.testing.assert_array_equal(grad, reference[1])
    tape = fd.record(lambda x: fnp.sum(fnp.tanh(x * constant) * constant), x)
    assert tape(x) == unfused(lambda: fd.record(lambda x: fnp.sum(fnp.tanh(x * constant) * constant), x)(x))
    x2 = x + 0.1
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(tape)).gradient(x2), tape.gradient(x2))


def logistic_loss(rng):
    """W5's loss on a 50 x 4 problem, and a point: (loss, w)."""
    X, y = rng.normal(size=(50, 4)), (rng.uniform(size=50) < 0.5).astype(float)

    def loss(w):
        z = X @ w
        return fnp.mean(fnp.log1p(fnp.exp(-fnp.abs(z))) + fnp.maximum(z, 0.0) - y * z)

    return loss, 0.1 * rng.normal(size=4)


def primitive_names(tape):
    """The primitives of a recorded tape's array nodes, in order."""
    core = tape._tape
    return [core.ext(i).primitive.name for i in range(len(core))
            if core.ext(i) is not None and core.ext(i).primitive is not None]


def test_logistic_loss_records_one_program_and_guards_its_kinks(fusion):
    """W5's loss: the chain after X @ w is one fused node; the branches of
    abs and maximum are guarded on the recorded tape, as unfused."""
    loss, w = logistic_loss(np.random.default_rng(14))
    tape = fd.record(loss, w)
    names = primitive_names(tape)
    assert names.count("fused") == 1 and "branch of absolute" in names
    w2 = w * 1.0001
    value, grad = tape.value_and_grad(w2)
    reference = unfused(lambda: fd.value_and_grad(loss)(w2))
    assert value == reference[0]
    np.testing.assert_allclose(grad, reference[1], rtol=1e-14)
    np.testing.assert_allclose(tape.hvp(w2, np.ones(4)),
                               unfused(lambda: fd.hvp(loss, w2, np.ones(4))), rtol=1e-12)
    with pytest.raises(fd.RetapeRequired, match="absolute"):
        tape.gradient(-w)  # the signs of X @ w flip
    retaped = fd.record(loss, w, retape=True)
    np.testing.assert_allclose(retaped.gradient(-w), unfused(lambda: fd.grad(loss)(-w)), rtol=1e-14)


def test_fused_domain_errors_warn_as_numpy(fusion):
    import warnings

    x = np.array([1.0, 0.0, -1.0])

    def forward():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with np.errstate(all="warn"):
                value = fd.make_vjp(lambda x: fnp.log(x * 1.0) + fnp.arcsin(x * 2.0))(x)[1]
        return value, sorted(str(w.message) for w in caught)

    fused_value, fused_warnings = forward()
    plain_value, plain_warnings = unfused(forward)
    np.testing.assert_array_equal(fused_value, plain_value)
    assert fused_warnings == plain_warnings and fused_warnings


def _chains(c):
    """Functions of a vector whose fused programs take every path: sums,
    elementwise results feeding a product, kinks, kept function values,
    constant arrays, single instructions."""
    A = np.linspace(-1.0, 1.0, 3 * c.size).reshape(c.size, 3)
    return [
        lambda x: fnp.sum(fnp.tanh(x * c) * fnp.exp(-x * x)),
        lambda x: fnp.sum((fnp.sin(x) * 2.0 + c) @ A),
        lambda x: fnp.mean(fnp.log1p(fnp.exp(-fnp.abs(x))) + fnp.maximum(x, 0.0) - c * x),
        lambda x: fnp.sum(fnp.exp(x) @ A) + fnp.sum(fnp.sqrt(1.0 + x * x)),
        lambda x: fnp.sum(fnp.maximum(fnp.cosh(x) - 1.5, c) ** 2),
        lambda x: fnp.sum(fnp.minimum(x * 2.0, fnp.sinh(x)) * c),
    ]


def test_replay_equals_tracing_to_the_bit(fusion):
    """A recorded tape replayed at a second point gives what tracing there
    gives, bit for bit: value, gradient, tangent (the same programs, the
    same derivative paths)."""
    rng = np.random.default_rng(15)
    c = rng.uniform(-1.0, 1.0, 40)
    x0 = rng.uniform(0.1, 1.0, 40)
    x1 = x0 * 1.001  # (the branches of maximum and minimum stay those recorded)
    for f in _chains(c):
        tape = fd.record(f, x0)
        value, grad = tape.value_and_grad(x1)
        traced_value, traced_grad = fd.value_and_grad(f)(x1)
        assert value == traced_value
        np.testing.assert_array_equal(grad, traced_grad)
        t = rng.normal(size=40)
        np.testing.assert_array_equal(tape.jvp(x1, t)[1], fd.jvp(f, (x1,), (t,))[1])
        np.testing.assert_allclose(grad, unfused(lambda: fd.grad(f)(x1)), rtol=1e-13, atol=1e-15)


def test_a_vjp_swept_twice_gives_the_same_answer(fusion):
    """The first sweep of a fused sum may take over its worked-out
    derivatives as an adjoint; the second works them out again."""
    c = np.linspace(0.5, 1.5, 30)
    for f in _chains(c):
        back, value = fd.make_vjp(f)(np.linspace(0.1, 0.9, 30))
        first = back(1.0)
        np.testing.assert_array_equal(back(1.0), first)
        np.testing.assert_allclose(
            back(2.5), unfused(lambda: fd.make_vjp(f)(np.linspace(0.1, 0.9, 30))[0](2.5)),
            rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("fusion_on", [True, False])
def test_branch_guards_flip_on_any_element(fusion_on):
    """The kink guards of a replay (checked in one pass where the operands
    are float64 arrays or floats) catch a branch change at any single
    element, a tie left or reached, and NaN, as NumPy's comparison does."""
    previous = _tape.set_fusion_threshold(0 if fusion_on else -1)
    try:
        c = np.array([0.5, -0.25, 0.0, 1.0])
        tape = fd.record(lambda x: fnp.sum(fnp.maximum(x, c) + fnp.abs(x) + fnp.minimum(x, 0.25)),
                         np.array([1.0, 0.5, 0.0, -2.0]))
        tape.gradient(np.array([1.5, 0.75, 0.0, -1.0]))  # every branch kept
        for point in ([0.4, 0.5, 0.0, -2.0], [1.0, -0.5, 0.0, -2.0], [1.0, 0.5, 1e-300, -2.0],
                      [1.0, 0.5, 0.0, 1.0], [1.0, 0.5, np.nan, -2.0], [1.0, 0.5, 0.0, 0.25]):
            with pytest.raises(fd.RetapeRequired, match="another branch"):
                tape.gradient(np.array(point))
    finally:
        _tape.set_fusion_threshold(previous)


def test_a_pending_zero_d_array_with_a_traced_float(fusion):
    """A 0-d pending array stays an array when it is evaluated (NumPy's
    operations on a 0-d array give a scalar, which recorded the operation
    as a traced float and crashed: a Scalar read as an Array)."""
    def f(x, s):
        return fnp.sum(s * (2.0 * x) + fnp.exp(x * 1.0))

    gx, gs = fd.grad(f, (0, 1))(np.array(1.5), 2.0)
    assert gx == 2.0 * 2.0 + np.exp(1.5) and gs == 3.0
    second = fd.grad(lambda x: fd.grad(f)(x, 2.0))(np.array(1.5))
    np.testing.assert_allclose(second, np.exp(1.5), rtol=1e-15)


def test_a_pending_array_read_by_two_expressions_is_evaluated_once(fusion):
    """A recurrence whose state is read by its output and by the next step
    (an LSTM's cell state) fuses each step apart: the state is evaluated as
    a node at its second use, instead of every later program computing all
    earlier steps again (up to the length limit)."""
    x = np.linspace(0.1, 1.0, 14)

    def f(x):
        c, total = x, 0.0
        for t in range(40):
            c = c * 0.9 + fnp.tanh(x * float(t))
            total = total + fnp.sum(fnp.tanh(c) * x)
        return total
    tape = fd.record(f, x)
    lengths = [len(tape._tape.ext(i).kwargs["program"]) for i in range(len(tape._tape))
               if tape._tape.node(i)[0] == "fused"]
    assert lengths and max(lengths) <= 6
    np.testing.assert_array_equal(tape.gradient(x * 1.5), fd.grad(f)(x * 1.5))
    np.testing.assert_allclose(fd.grad(f)(x), unfused(lambda: fd.grad(f)(x)), rtol=1e-13)


def test_strided_leaves_take_the_c_steps(fusion, monkeypatch):
    """A replayed stencil's fused node reads strided slices of its input:
    its tangent and reverse steps copy them and run in C (they fell back to
    the expanding rules, 2x the time of W16's Bratu Jacobian), with the
    rules' numbers."""
    m = 12
    x = np.random.default_rng(16).uniform(0.1, 0.9, m * m)

    def f(x):
        u = fnp.reshape(x, (m, m))
        inner = u[1:-1, 1:-1]
        return u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4.0 * inner \
            + 0.5 * fnp.exp(inner)

    tape = fd.record(f, x)
    x2 = x * 1.01
    expected = unfused(lambda: fd.jacobian(f)(x2))
    g = np.linspace(-1.0, 1.0, (m - 2) ** 2).reshape(m - 2, m - 2)
    expected_vjp = unfused(lambda: fd.make_vjp(f)(x2)[0](g))

    def refuse(*args, **kwargs):
        raise AssertionError("the expanding rule ran")

    monkeypatch.setattr(fused_ops, "_jvp", refuse)
    monkeypatch.setattr(fused_ops, "_vjp", refuse)
    np.testing.assert_allclose(tape.jacobian(x2), expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(tape.sparse_jacobian(x2).toarray(), expected.reshape(-1, m * m),
                               rtol=1e-15, atol=0)
    np.testing.assert_allclose(tape.vjp(x2, g)[1], expected_vjp, rtol=1e-15, atol=1e-15)


def _stencil(x, copy, reverse):
    """A 2-D stencil whose fused program reads strided slices (copied first
    with `copy`): neighbours, a product of two, a row-reversed block (every
    element reversed with `reverse`: no contiguous rows), a kept function
    (exp), a constant array leaf; rows of 64, long enough for the row path."""
    u = fnp.reshape(x, (7, 66))
    c = (lambda a: fnp.reshape(fnp.ravel(a), a.shape)) if copy else (lambda a: a)
    inner = c(u[1:-1, 1:-1])
    lap = c(u[:-2, 1:-1]) + c(u[2:, 1:-1]) + c(u[1:-1, :-2]) * c(u[1:-1, 2:]) - 4.0 * inner
    rev = c(u[-2:0:-1, -2:0:-1] if reverse else u[-2:0:-1, 1:-1])
    return fnp.ravel(lap + 0.5 * fnp.exp(inner) * fnp.sin(rev)
                     + np.arange(320.0).reshape(5, 64) * inner)


@pytest.mark.parametrize("reverse", [False, True])
def test_tangents_of_strided_slices_row_by_row_equal_the_copied_ones(reverse):
    """The batched tangent step of a fused program over strided slices with
    contiguous rows runs row by row on the slices themselves (no copies):
    the same bits as over contiguous copies of them, at a replayed point
    (where the leaves are the replay's strided views); slices without
    contiguous rows are copied as before."""
    rng = np.random.default_rng(5)
    x, y = rng.uniform(-1.0, 1.0, 7 * 66), rng.uniform(-1.0, 1.0, 7 * 66)
    strided = fd.record(lambda x: _stencil(x, False, reverse), x)
    copied = fd.record(lambda x: _stencil(x, True, reverse), x)
    for point in (y, x):
        S = strided.sparse_jacobian(point)
        np.testing.assert_array_equal(S.toarray(), copied.sparse_jacobian(point).toarray())
        np.testing.assert_array_equal(strided.jacobian(point), copied.jacobian(point))
        np.testing.assert_allclose(
            S.toarray(), fd.jacfwd(lambda x: _stencil(x, False, reverse))(point),
            rtol=1e-14, atol=1e-14)
    fused = [ext for ext in map(strided._tape.ext, range(len(strided._tape)))
             if ext is not None and ext.primitive is not None and ext.primitive.name == "fused"]
    assert any(not leaf.flags.c_contiguous for leaf in fused[0].args)  # (strided: replayed)
