"""W6: the full 100x100 Jacobian of tanh(A @ x) + x**2."""
import numpy as np
import pytest

from benchmarks.common import check, compiled, peer, run

N = 100
GROUP = "W6 Jacobian 100x100 of tanh(A x) + x^2"


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((N, N)) / np.sqrt(N), rng.standard_normal(N)


def f(np_, A, x):
    return np_.tanh(A @ x) + x ** 2


def reference(A, x):
    return (1 - np.tanh(A @ x) ** 2)[:, None] * A + np.diag(2 * x)


def test_hand_written(benchmark, problem):
    A, x = problem
    run(benchmark, GROUP, "numpy by hand", "limit", reference, A, x)


@pytest.mark.parametrize("mode", ["jacobian", "jacfwd", "jacrev"])
def test_fastad(benchmark, problem, mode):
    import fastad
    import fastad.numpy as fnp
    A, x = problem
    jac = getattr(fastad, mode)(lambda x: f(fnp, A, x))
    check(jac(x), reference(A, x))
    run(benchmark, GROUP, "fastad %s" % mode, "subject" if mode == "jacobian" else "variant", jac, x)


def test_autograd(benchmark, problem):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    A, x = problem
    jac = autograd.jacobian(lambda x: f(anp, A, x))
    check(jac(x), reference(A, x))
    run(benchmark, GROUP, "autograd jacobian", "peer", jac, x)


def test_torch(benchmark, problem):
    torch = peer("torch")
    A, x = problem
    tA = torch.from_numpy(A)

    def jac(x):
        return torch.autograd.functional.jacobian(
            lambda t: f(torch, tA, t), torch.from_numpy(x), vectorize=True).numpy()
    check(jac(x), reference(A, x))
    run(benchmark, GROUP, "pytorch functional.jacobian (vectorized)", "peer", jac, x)


@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
@pytest.mark.parametrize("jit", [False, True], ids=["nojit", "jit"])
def test_jax(benchmark, problem, mode, jit):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    A, x = problem
    jac = getattr(jax, mode)(lambda x: f(jnp, A, x))
    if jit:
        jac = jax.jit(jac)
    call = lambda x: np.asarray(jac(x))  # noqa: E731
    check(compiled(benchmark, lambda: call(x)) if jit else call(x), reference(A, x))
    run(benchmark, GROUP, "jax %s (%s)" % (mode, "jit, steady state" if jit else "no jit"),
        "peer", call, x)
