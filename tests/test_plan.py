"""The lowered replay of recorded tapes (src/fastad/_core/plan.pxi): a
recorded tape's gradient through its plan equals the node-by-node replay's
and the trace's, bit for bit, and keeps every guard.  (The op table's
systematic test replays every op through a plan too: check_replay in
test_ops.py.)"""
import pickle

import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp


def both(fun, *args):
    """The same function recorded twice: lowered, and kept node by node."""
    lowered = fd.record(fun, *args)
    node_by_node = fd.record(fun, *args)
    node_by_node._tape.plan = False
    return lowered, node_by_node


def same_gradients(fun, args, points):
    lowered, node_by_node = both(fun, *args)
    for point in points:
        v1, g1 = lowered.value_and_grad(*point)
        v2, g2 = node_by_node.value_and_grad(*point)
        v3, g3 = fd.value_and_grad(fun, tuple(range(len(point))))(*point)
        assert v1 == v2 == v3
        g1 = g1 if len(point) > 1 else (g1,)
        g2 = g2 if len(point) > 1 else (g2,)
        for a, b, c in zip(g1, g2, g3):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)
    assert type(lowered._tape.plan).__name__ == "_Plan"
    return lowered


def lowered_and_central(tape, fun, point):
    """(the lowered tape's gradient, central differences) by argument at
    `point`: a check of the plan's numbers independent of the trace."""
    grads = tape.gradient(*point)
    grads = grads if len(point) > 1 else (grads,)
    return zip(grads, fd.numerical_grad(lambda args: fun(*args), tuple(point)), strict=True)


def sigmoid(z):
    return 1.0 / (1.0 + fnp.exp(-z))


def lstm_like(weights, bias, xs):
    """A recurrence over small vectors: slices, concatenate, fused chains,
    sums and scalar arithmetic, as an LSTM is written."""
    b = bias.shape[0] // 4
    hidden, cell, total = xs[0] * 0.0, xs[0] * 0.0, 0.0
    for t in range(xs.shape[0] - 1):
        gates = fnp.concatenate((xs[t], hidden, xs[t], hidden)) * weights + bias
        cell = cell * sigmoid(gates[0:b]) + sigmoid(gates[b:2 * b]) * fnp.tanh(gates[3 * b:])
        hidden = sigmoid(gates[2 * b:3 * b]) * fnp.tanh(cell)
        total = total + fnp.log(fnp.sum(fnp.exp(hidden)) + 2.0) - fnp.sum(xs[t + 1] * hidden)
    return total


def test_a_recurrence_over_small_vectors(rng):
    b = 5
    xs = rng.standard_normal((6, b))
    weights, bias = rng.standard_normal(8 * b), rng.standard_normal(8 * b)[:4 * b]
    weights = weights[:4 * b]
    fun = lambda w, c: lstm_like(w, c, xs)  # noqa: E731
    tape = same_gradients(fun, (weights, bias),
                          [(weights, bias), (weights * 1.1, bias - 0.2), (-weights, bias)])
    for got, want in lowered_and_central(tape, fun, (weights * 1.1, bias - 0.2)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_moves_of_every_kind(rng):
    def f(x, y):
        a = fnp.transpose(x)[1:, ::2]                  # a strided view
        b = fnp.reshape(x, (-1,))[2:8]                 # a contiguous slice of a reshape
        c = fnp.stack([y, y * 2.0, fnp.sin(y)], axis=1)
        d = fnp.concatenate([x, np.ones((1, 4)), x * y[:4]], axis=0)
        e = fnp.expand_dims(fnp.moveaxis(d, 0, 1), 0)
        return (fnp.sum(a ** 2) + fnp.sum(b * fnp.arange(6.0)) + fnp.sum(fnp.cos(c))
                + fnp.sum(e * e[..., ::-1]))
    x, y = rng.standard_normal((3, 4)), rng.standard_normal(5)
    tape = same_gradients(f, (x, y), [(x, y), (x + 0.3, y * 0.7)])
    for got, want in lowered_and_central(tape, f, (x + 0.3, y * 0.7)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_an_array_of_scalars_and_element_reads(rng):
    def f(x):
        s = x[0] * x[1] + fnp.sin(x[2])
        v = fnp.array([s, x[3], 2.0 * s])
        return fnp.sum(fnp.exp(v) * x[1:4]) + s
    x = rng.standard_normal(5)
    tape = same_gradients(f, (x,), [(x,), (x * 0.5,)])
    for got, want in lowered_and_central(tape, f, (x * 0.5,)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_products_and_reductions(rng):
    X = rng.standard_normal((30, 7))

    def f(w, b):
        z = X @ w + b
        p = fnp.exp(z - fnp.max(z, axis=1, keepdims=True))
        return fnp.mean(fnp.log(fnp.sum(p, axis=1))) + 0.1 * fnp.sum(w * w)
    w, b = rng.standard_normal((7, 3)), rng.standard_normal(3)
    tape = same_gradients(f, (w, b), [(w, b), (w * 0.9, b + 0.1)])
    for got, want in lowered_and_central(tape, f, (w * 0.9, b + 0.1)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_guards_flip_through_the_plan(rng):
    X = rng.standard_normal((20, 3))

    def loss(w):
        z = X @ w
        return fnp.mean(fnp.log1p(fnp.exp(-fnp.abs(z))) + fnp.maximum(z, 0.0))
    w = rng.standard_normal(3)
    tape = same_gradients(loss, (w,), [(w,), (w * (1 + 1e-9),)])
    with pytest.raises(fd.RetapeRequired, match="absolute"):
        tape.gradient(-w)
    retaping = fd.record(loss, w, retape=True)
    np.testing.assert_array_equal(retaping.gradient(-w), fd.grad(loss)(-w))


def test_a_python_branch_on_a_traced_value_is_guarded(rng):
    def f(x):
        if fnp.sum(x) > 0:
            return fnp.sum(x ** 2)
        return fnp.sum(fnp.sin(x))
    x = np.abs(rng.standard_normal(4))
    tape = same_gradients(f, (x,), [(x,), (x * 2.0,)])
    with pytest.raises(fd.RetapeRequired):
        tape.gradient(-x)


def test_the_callers_arrays_are_copied_not_kept(rng):
    tape = fd.record(lambda x: fnp.sum(fnp.sin(x) * x), np.ones(3))
    x = rng.standard_normal(3)
    g = tape.gradient(x)
    g_again = tape.gradient(x * 2.0)
    assert g is not g_again
    np.testing.assert_array_equal(g, fd.grad(lambda x: fnp.sum(fnp.sin(x) * x))(x))
    x[:] = 0.0  # (the plan's buffers are its own)
    np.testing.assert_array_equal(tape.gradient(x * 0 + 1.0), tape.gradient(np.ones(3)))


def test_complex_nodes_keep_the_node_by_node_replay(rng):
    def f(x):
        return fnp.sum(fnp.abs(fnp.fft.fft(x)) ** 2)
    x = rng.standard_normal(8)
    tape = fd.record(f, x)
    np.testing.assert_allclose(tape.gradient(x * 2.0), fd.grad(f)(x * 2.0), rtol=1e-12)
    assert tape._tape.plan is False


def test_a_pickled_tape_lowers_again(rng):
    def f(x):
        return fnp.sum(fnp.tanh(x[1:] * x[:-1]))
    x = rng.standard_normal(6)
    tape = fd.record(f, x)
    tape.gradient(x)
    copy = pickle.loads(pickle.dumps(tape))
    np.testing.assert_array_equal(copy.gradient(x + 1.0), tape.gradient(x + 1.0))


@pytest.mark.parametrize("steps, size", [
    # a cotangent first held unexpanded (a sum's), given as it is to an
    # elementwise rule, whose result the next program's leaf adds to
    ([("unary", 4, 0, 0, 0), ("element", 0, 1, 0, 0), ("element", 0, 0, 0, 0),
      ("binary", 2, 0, 2, 0)], 2),
    # x + v as a program of one instruction: x's adjoint, first the rule's g
    # itself, is not the sweep's own, so the next program adds apart
    ([("binary", 3, 0, 0, 0), ("element", 0, 1, 0, 0), ("binary", 0, 0, 1, 0),
      ("binary", 0, 2, 3, 0)], 1),
    # a leaf read twice by a program, its adjoint unexpanded before
    ([("unary", 0, 0, 0, 0), ("unary", 0, 0, 0, 0), ("element", 0, 2, 0, 0),
      ("unary", 5, 2, 0, 0), ("binary", 4, 0, 4, 0)], 2),
], ids=["unexpanded", "one-instruction", "read-twice"])
def test_the_order_of_additions_is_the_traced_sweeps(steps, size):
    """Programs the fuzz test found (tests/test_adversarial.py's language)
    where the plan first added cotangents in another order than the trace."""
    from test_adversarial import _run
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-2, 2, size)
    points = [(x0,), (x0 * (1 + 1e-7),), (rng.uniform(-2, 2, size),), (rng.uniform(-2, 2, size),)]
    fun = lambda x: _run(steps, x)  # noqa: E731
    lowered = fd.record(fun, x0, retape=True)
    for (p,) in points:
        value, grad = lowered.value_and_grad(p)
        traced_value, traced = fd.value_and_grad(fun)(p)
        assert value == traced_value
        assert np.asarray(grad).tobytes() == np.asarray(traced).tobytes()
