"""W1: a 10,000-operation scalar Python loop (mul, sin, exp, div, log, tanh,
add), one full gradient: record + backward, against the same loop on plain
floats (the limit) and the peers' scalar autodiff."""
import math

import pytest

from benchmarks.common import QUICK, check, peer, run

N_OPS = 10_000
GROUP = "W1 scalar chain, 10k ops: gradient"
X, Y = 0.3, 0.7


def chain(x, y, sin, exp, log, tanh, n_ops=N_OPS):
    """Seven operations per iteration."""
    acc = x
    for _ in range(n_ops // 7):
        acc = acc + tanh(log(exp(sin(x * y)) / 3.0))
    return acc


def reference_gradient(x, y, n_ops=N_OPS):
    """Closed form: acc = x + m tanh(sin(xy) - log 3)."""
    m = n_ops // 7
    s = math.sin(x * y)
    d = m * (1 - math.tanh(s - math.log(3.0)) ** 2) * math.cos(x * y)
    return (1 + d * y, d * x)


def test_plain_floats(benchmark):
    """The limit: the loop itself on Python floats (no derivative)."""
    value = chain(X, Y, math.sin, math.exp, math.log, math.tanh)
    check(value, X + (N_OPS // 7) * math.tanh(math.sin(X * Y) - math.log(3.0)), what="value")
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
