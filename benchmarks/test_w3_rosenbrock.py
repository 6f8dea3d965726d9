"""W3: vectorised Rosenbrock at n = 10^6: gradient time over function time,
against scipy's hand-written rosen_der (the limit) and the peers."""
import numpy as np
import pytest

from benchmarks.common import check, compiled, peer, run

N = 10**6
GROUP = "W3 vectorised Rosenbrock, n=1e6: gradient"


@pytest.fixture(scope="module")
def point():
    return np.random.default_rng(0).uniform(-1.0, 1.0, N)


def rosen(np_, x):
    return np_.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.fixture(scope="module")
def reference(point):
    scipy_optimize = peer("scipy.optimize")
    return scipy_optimize.rosen_der(point)


def test_function(benchmark, point):
    """The function alone (plain NumPy), the denominator of the ratio."""
    scipy_optimize = peer("scipy.optimize")
    check(rosen(np, point), scipy_optimize.rosen(point), what="value")
    run(benchmark, GROUP, "numpy function (rosen)", "function", rosen, np, point)


def test_rosen_der(benchmark, point, reference):
    scipy_optimize = peer("scipy.optimize")
    run(benchmark, GROUP, "scipy rosen_der (hand-written)", "limit", scipy_optimize.rosen_der, point)


def test_fastad(benchmark, point, reference):
    import fastad
    import fastad.numpy as fnp
    grad = fastad.grad(lambda x: rosen(fnp, x))
    check(grad(point), reference)
    run(benchmark, GROUP, "fastad", "subject", grad, point)


def test_autograd(benchmark, point, reference):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    grad = autograd.grad(lambda x: rosen(anp, x))
    check(grad(point), reference)
    run(benchmark, GROUP, "autograd", "peer", grad, point)


def test_torch(benchmark, point, reference):
    torch = peer("torch")

    def grad(x):
        t = torch.from_numpy(x).requires_grad_(True)
        rosen(torch, t).backward()
        return t.grad.numpy()
    check(grad(point), reference)
    run(benchmark, GROUP, "pytorch", "peer", grad, point)


def test_jax_nojit(benchmark, point, reference):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    grad = jax.grad(lambda x: rosen(jnp, x))
    check(np.asarray(grad(point)), reference)
    run(benchmark, GROUP, "jax (no jit)", "peer", lambda x: np.asarray(grad(x)), point)


def test_jax_jit(benchmark, point, reference):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    grad = jax.jit(jax.grad(lambda x: rosen(jnp, x)))
    check(compiled(benchmark, lambda: np.asarray(grad(point))), reference)
    run(benchmark, GROUP, "jax (jit, steady state)", "peer", lambda x: np.asarray(grad(x)), point)
