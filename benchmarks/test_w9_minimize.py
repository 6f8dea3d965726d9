"""W9: scipy.optimize.minimize end to end on Rosenbrock (n = 1,000),
L-BFGS-B and Newton-CG: fastad.optimize (derivatives from a replayed tape)
against scipy with its hand-written rosen_der/rosen_hess_prod (the limit)
and with the peers' gradients."""
import numpy as np
import pytest

from benchmarks.common import QUICK, peer, run

N = 1000
METHODS = ["L-BFGS-B", "Newton-CG"]
# Newton-CG's default xtol stops about 0.1 from the minimum at n = 1000
OPTIONS = {"L-BFGS-B": {}, "Newton-CG": {"xtol": 1e-10}}


def group(method):
    return "W9 scipy.optimize.minimize, Rosenbrock n=1000, %s: end to end" % method


def rosen(np_, x):
    return np_.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@pytest.fixture(scope="module")
def x0():
    return np.full(N, -1.2)


def converged(result):
    if not np.allclose(result.x, 1.0, atol=2e-3):
        pytest.fail("did not reach the minimum (max error %g): not timed"
                    % np.max(np.abs(result.x - 1.0)))
    return result


@pytest.mark.parametrize("method", METHODS)
def test_scipy_hand_written(benchmark, x0, method):
    so = peer("scipy.optimize")
    extra = {"hessp": so.rosen_hess_prod} if method == "Newton-CG" else {}
    call = lambda: so.minimize(so.rosen, x0, jac=so.rosen_der, method=method,  # noqa: E731
                               options=OPTIONS[method], **extra)
    result = converged(call())
    benchmark.extra_info["iterations"] = int(result.nit)
    run(benchmark, group(method), "scipy + rosen_der (hand-written)", "limit", call,
        rounds=2 if QUICK else 5)


@pytest.mark.parametrize("method", METHODS)
def test_fastad(benchmark, x0, method):
    import fastad
    import fastad.numpy as fnp
    call = lambda: fastad.optimize.minimize(lambda x: rosen(fnp, x), x0, method=method,  # noqa: E731
                                            options=OPTIONS[method])
    result = converged(call())
    benchmark.extra_info["iterations"] = int(result.nit)
    run(benchmark, group(method), "fastad.optimize", "subject", call, rounds=2 if QUICK else 5)


@pytest.mark.parametrize("method", METHODS)
def test_autograd(benchmark, x0, method):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    so = peer("scipy.optimize")
    f = lambda x: rosen(anp, x)  # noqa: E731
    extra = {"hessp": lambda x, p: autograd.make_hvp(f)(x)[0](p)} if method == "Newton-CG" else {}
    call = lambda: so.minimize(autograd.value_and_grad(f), x0, jac=True, method=method,  # noqa: E731
                               options=OPTIONS[method], **extra)
    result = converged(call())
    benchmark.extra_info["iterations"] = int(result.nit)
    run(benchmark, group(method), "autograd", "peer", call, rounds=1 if QUICK else 3)


@pytest.mark.parametrize("method", METHODS)
def test_torch(benchmark, x0, method):
    torch = peer("torch")
    so = peer("scipy.optimize")

    def value_and_grad(x):
        t = torch.from_numpy(x).requires_grad_(True)
        value = rosen(torch, t)
        (g,) = torch.autograd.grad(value, t)
        return value.item(), g.numpy()

    def hessp(x, p):
        t = torch.from_numpy(x).requires_grad_(True)
        (g,) = torch.autograd.grad(rosen(torch, t), t, create_graph=True)
        (hv,) = torch.autograd.grad(g @ torch.from_numpy(p), t)
        return hv.numpy()
    extra = {"hessp": hessp} if method == "Newton-CG" else {}
    call = lambda: so.minimize(value_and_grad, x0, jac=True, method=method,  # noqa: E731
                               options=OPTIONS[method], **extra)
    result = converged(call())
    benchmark.extra_info["iterations"] = int(result.nit)
    run(benchmark, group(method), "pytorch", "peer", call, rounds=1 if QUICK else 3)
