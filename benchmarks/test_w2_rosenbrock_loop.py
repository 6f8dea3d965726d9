"""W2: Rosenbrock written as a Python loop over n = 1,000 elements: the
gradient traced, replayed from a recorded tape, and by the peers, against
scipy's vectorised hand-written rosen_der (the limit)."""
import numpy as np
import pytest

from benchmarks.common import QUICK, check, compiled, peer, run

N = 1000
GROUP = "W2 Rosenbrock as a Python loop, n=1000: gradient"


def rosen_loop(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


@pytest.fixture(scope="module")
def point():
    return np.random.default_rng(0).uniform(-1.0, 1.0, N)


@pytest.fixture(scope="module")
def reference(point):
    return peer("scipy.optimize").rosen_der(point)


def test_rosen_der(benchmark, point, reference):
    run(benchmark, GROUP, "scipy rosen_der (hand-written, vectorised)", "limit",
        peer("scipy.optimize").rosen_der, point)


def test_fastad_traced(benchmark, point, reference):
    import fastad
    grad = fastad.grad(rosen_loop)
    check(grad(point), reference)
    run(benchmark, GROUP, "fastad traced", "variant", grad, point)


def test_fastad_replayed(benchmark, point, reference):
    import fastad
    tape = fastad.record(rosen_loop, point * 0.5)
    check(tape.gradient(point), reference)
    run(benchmark, GROUP, "fastad replayed", "subject", tape.gradient, point)


def test_autograd(benchmark, point, reference):
    autograd = peer("autograd")
    grad = autograd.grad(rosen_loop)
    check(grad(point), reference)
    run(benchmark, GROUP, "autograd", "peer", grad, point, rounds=2 if QUICK else 5)


def test_torch(benchmark, point, reference):
    torch = peer("torch")

    def grad(x):
        t = torch.from_numpy(x).requires_grad_(True)
        rosen_loop(t).backward()
        return t.grad.numpy()
    check(grad(point), reference)
    run(benchmark, GROUP, "pytorch", "peer", grad, point, rounds=2 if QUICK else 5)


@pytest.mark.skipif(QUICK, reason="compiling the 1,000-step loop with jax.jit takes long; full runs only")
def test_jax_jit(benchmark, point, reference):
    jax = peer("jax")
    grad = jax.jit(jax.grad(rosen_loop))
    check(compiled(benchmark, lambda: np.asarray(grad(point))), reference)
    run(benchmark, GROUP, "jax (jit, steady state)", "peer", lambda x: np.asarray(grad(x)), point)
