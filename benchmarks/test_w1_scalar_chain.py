"""W1: a 10,000-operation scalar Python loop (mul, sin, exp, div, log, tanh,
add), one full gradient: record + backward, against the same loop on plain
floats (the limit) and the peers' scalar autodiff."""
import math

import pytest

from benchmarks.common import QUICK, alternating, check, peer, run

N_OPS = 10_000
GROUP = "W1 scalar chain, 10k ops: gradient"
X, Y = 0.3, 0.7


def chain(x, y, sin, exp, log, tanh, n_ops=N_OPS):
    """Eight operations per iteration (mul, add, sin, exp, div, log, tanh,
    add); every iteration has work of its own (the 0.001 k shift), so a
    compiler cannot hoist it out of the loop."""
    acc = x
    for k in range(n_ops // 8):
        acc = acc + tanh(log(exp(sin(x * y + 0.001 * k)) / 3.0))
    return acc


def hand_written_gradient(x, y, n_ops=N_OPS):
    """Forward and reverse by hand on Python floats, fused per iteration: the
    reference, and (compiled by numba) the limit."""
    gx, gy = 1.0, 0.0
    for k in range(n_ops // 8):
        a = x * y + 0.001 * k
        s = math.sin(a)
        e = math.exp(s)
        d = e / 3.0
        t = math.tanh(math.log(d))
        da = (1.0 - t * t) / d * (e / 3.0) * math.cos(a)
        gx += da * y
        gy += da * x
    return gx, gy


def reference_gradient(x, y, n_ops=N_OPS):
    return hand_written_gradient(x, y, n_ops)


def test_plain_floats(benchmark):
    """The limit: the loop itself on Python floats (no derivative)."""
    value = chain(X, Y, math.sin, math.exp, math.log, math.tanh)
    assert math.isfinite(value)
    run(benchmark, GROUP, "python floats (function only)", "limit",
        chain, X, Y, math.sin, math.exp, math.log, math.tanh)


def test_fastad(benchmark):
    import fastad
    import fastad.numpy as fnp
    grad = fastad.grad(lambda x, y: chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh), (0, 1))
    check(grad(X, Y), reference_gradient(X, Y))
    tape_len = {}

    def measure(x, y):
        out = chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh)
        tape_len["n"] = len(x.tape) - 2  # operations, without the two inputs
        return out
    fastad.grad(measure)(X, Y)
    benchmark.extra_info["ops"] = tape_len["n"]
    run(benchmark, GROUP, "fastad", "subject", grad, X, Y)


GROUP_REPLAY = "W1 scalar chain, 10k ops: replayed gradient"


def test_fastad_replayed(benchmark):
    """The chain recorded once; each gradient replays the tape in C."""
    import fastad
    import fastad.numpy as fnp
    tape = fastad.record(lambda x, y: chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh), X, Y)
    points = [(X, Y), (X + 0.1, Y)]
    for point in points:
        check(tape.gradient(*point), reference_gradient(*point))
    benchmark.extra_info["ops"] = len(tape)
    # each call replays at another point than the last
    run(benchmark, GROUP_REPLAY, "fastad replayed", "subject", alternating(tape.gradient, *points))


def test_numba_hand_written(benchmark):
    """The limit: forward and reverse of the same loop written by hand and
    compiled by numba (every operation evaluated, as a tape replay does)."""
    numba = peer("numba")

    gradient = numba.njit(cache=False, fastmath=False)(hand_written_gradient)
    check(gradient(X, Y, N_OPS), reference_gradient(X, Y))
    run(benchmark, GROUP_REPLAY, "numba hand-written forward+reverse", "limit", gradient, X, Y, N_OPS)


def test_autograd(benchmark):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    grad = autograd.grad(lambda xy: chain(xy[0], xy[1], anp.sin, anp.exp, anp.log, anp.tanh))
    check(grad((X, Y)), reference_gradient(X, Y))
    run(benchmark, GROUP, "autograd", "peer", grad, (X, Y), rounds=2 if QUICK else 5)


def test_torch(benchmark):
    torch = peer("torch")

    def grad(x, y):
        x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        y = torch.tensor(y, dtype=torch.float64, requires_grad=True)
        out = chain(x, y, torch.sin, torch.exp, torch.log, torch.tanh)
        out.backward()
        return x.grad.item(), y.grad.item()
    check(grad(X, Y), reference_gradient(X, Y))
    run(benchmark, GROUP, "pytorch", "peer", grad, X, Y, rounds=2 if QUICK else 5)


@pytest.mark.skipif(QUICK, reason="JAX without jit costs seconds per call; full runs only")
def test_jax_nojit(benchmark):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    grad = jax.grad(lambda x, y: chain(x, y, jnp.sin, jnp.exp, jnp.log, jnp.tanh), (0, 1))
    check(grad(X, Y), reference_gradient(X, Y))
    run(benchmark, GROUP, "jax (no jit)", "peer", grad, X, Y, rounds=2)
