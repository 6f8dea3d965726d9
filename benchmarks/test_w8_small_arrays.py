"""W8: per-operation overhead of traced array operations on 10-element
vectors: a chain of 100 elementwise operations, record + backward, against
the bare NumPy forward calls of the same chain (the limit)."""
import numpy as np
import pytest

from benchmarks.common import alternating, check, compiled, peer, run

N_OPS = 100
GROUP = "W8 small arrays: 100 ops on 10-element float64 vectors"


@pytest.fixture(scope="module")
def x():
    return np.linspace(0.1, 1.0, 10)


def chain(np_, x):
    """Five operations per iteration: sin, multiply, add, exp, divide."""
    for _ in range(N_OPS // 5):
        x = np_.exp(np_.sin(x) * 0.5 + 0.1) / 2.0
    return np_.sum(x)


def reference(x):
    import fastad
    import fastad.numpy as fnp
    return fastad.grad(lambda x: chain(fnp, x))(x)


def test_numpy_forward(benchmark, x):
    run(benchmark, GROUP, "numpy forward only", "limit", chain, np, x)


def test_fastad(benchmark, x):
    import fastad
    import fastad.numpy as fnp
    grad = fastad.grad(lambda x: chain(fnp, x))
    check(grad(x), fastad.numerical_grad(lambda v: chain(np, v), x), rtol=1e-6, atol=1e-9)
    run(benchmark, GROUP, "fastad", "subject", grad, x)


def test_fastad_recorded(benchmark, x):
    import fastad
    import fastad.numpy as fnp
    tape = fastad.record(lambda x: chain(fnp, x), x)
    x2 = x * 1.01
    check(tape.gradient(x2), reference(x2))
    run(benchmark, GROUP, "fastad recorded", "subject", alternating(tape.gradient, (x,), (x2,)))


def test_autograd(benchmark, x):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    grad = autograd.grad(lambda x: chain(anp, x))
    check(grad(x), reference(x))
    run(benchmark, GROUP, "autograd", "peer", grad, x)


def test_torch(benchmark, x):
    torch = peer("torch")

    def grad(x):
        t = torch.from_numpy(x).requires_grad_(True)
        chain(torch, t).backward()
        return t.grad.numpy()
    check(grad(x), reference(x))
    run(benchmark, GROUP, "pytorch", "peer", grad, x)


def test_jax_nojit(benchmark, x):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    grad = jax.grad(lambda x: chain(jnp, x))
    call = lambda x: np.asarray(grad(x))  # noqa: E731
    check(call(x), reference(x))
    run(benchmark, GROUP, "jax (no jit)", "peer", call, x)


def test_jax_jit(benchmark, x):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    grad = jax.jit(jax.grad(lambda x: chain(jnp, x)))
    call = lambda x: np.asarray(grad(x))  # noqa: E731
    check(compiled(benchmark, lambda: call(x)), reference(x))
    run(benchmark, GROUP, "jax (jit, steady state)", "peer", call, x)
