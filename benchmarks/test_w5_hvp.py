"""W5: logistic-regression loss on X 1000x100 (float64): Hessian-vector
product against the gradient, fastad's forward-over-reverse HVP against the
peers' second-order idioms."""
import numpy as np
import pytest

from benchmarks.common import alternating, check, compiled, peer, run

GROUP_GRAD = "W5 logistic regression 1000x100: gradient"
GROUP_HVP = "W5 logistic regression 1000x100: Hessian-vector product"


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 100))
    y = (rng.uniform(size=1000) < 0.5).astype(float)
    w, v = 0.1 * rng.standard_normal(100), rng.standard_normal(100)
    return X, y, w, v


def loss(np_, X, y, w, relu=None):
    z = X @ w
    relu = relu or (lambda a: np_.maximum(a, 0.0))
    # softplus(z) - y z, written stably
    return np_.mean(np_.log1p(np_.exp(-np_.abs(z))) + relu(z) - y * z)


def reference(X, y, w, v):
    s = 1 / (1 + np.exp(-(X @ w)))
    grad = X.T @ (s - y) / len(y)
    hvp = X.T @ (s * (1 - s) * (X @ v)) / len(y)
    return grad, hvp


def test_hand_written(benchmark, problem):
    X, y, w, v = problem
    run(benchmark, GROUP_HVP, "numpy by hand", "limit", reference, X, y, w, v)


def test_fastad_grad(benchmark, problem):
    import fastad
    import fastad.numpy as fnp
    X, y, w, v = problem
    grad = fastad.grad(lambda w: loss(fnp, X, y, w))
    check(grad(w), reference(X, y, w, v)[0])
    run(benchmark, GROUP_GRAD, "fastad", "subject", grad, w)


def test_hand_written_grad(benchmark, problem):
    X, y, w, v = problem

    def grad(w):
        s = 1 / (1 + np.exp(-(X @ w)))
        return X.T @ (s - y) / len(y)
    check(grad(w), reference(X, y, w, v)[0])
    run(benchmark, GROUP_GRAD, "numpy by hand", "limit", grad, w)


def test_fastad_recorded_grad(benchmark, problem):
    import fastad
    import fastad.numpy as fnp
    X, y, w, v = problem
    tape = fastad.record(lambda w: loss(fnp, X, y, w), w)
    w2 = w * (1 + 1e-9)  # (the signs of X @ w, which abs and maximum guard, stay)
    check(tape.gradient(w2), reference(X, y, w2, v)[0])
    run(benchmark, GROUP_GRAD, "fastad recorded", "subject", alternating(tape.gradient, (w,), (w2,)))


def test_fastad_recorded_hvp(benchmark, problem):
    import fastad
    import fastad.numpy as fnp
    X, y, w, v = problem
    tape = fastad.record(lambda w: loss(fnp, X, y, w), w)
    w2 = w * (1 + 1e-9)
    check(tape.hvp(w2, v), reference(X, y, w2, v)[1])
    run(benchmark, GROUP_HVP, "fastad recorded", "subject", alternating(tape.hvp, (w, v), (w2, v)))


def test_autograd_grad(benchmark, problem):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    X, y, w, v = problem
    grad = autograd.grad(lambda w: loss(anp, X, y, w))
    check(grad(w), reference(X, y, w, v)[0])
    run(benchmark, GROUP_GRAD, "autograd", "peer", grad, w)


def test_torch_grad(benchmark, problem):
    torch = peer("torch")
    X, y, w, v = problem
    tX, ty = torch.from_numpy(X), torch.from_numpy(y)

    def grad(w):
        tw = torch.from_numpy(w).requires_grad_(True)
        (g,) = torch.autograd.grad(loss(torch, tX, ty, tw, relu=torch.relu), tw)
        return g.numpy()
    check(grad(w), reference(X, y, w, v)[0])
    run(benchmark, GROUP_GRAD, "pytorch", "peer", grad, w)


def test_fastad_hvp(benchmark, problem):
    import fastad
    import fastad.numpy as fnp
    X, y, w, v = problem
    f = lambda w: loss(fnp, X, y, w)  # noqa: E731
    check(fastad.hvp(f, w, v), reference(X, y, w, v)[1])
    run(benchmark, GROUP_HVP, "fastad", "subject", fastad.hvp, f, w, v)


def test_autograd_hvp(benchmark, problem):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    X, y, w, v = problem
    make_hvp = autograd.make_hvp(lambda w: loss(anp, X, y, w))
    call = lambda w, v: make_hvp(w)[0](v)  # noqa: E731
    check(call(w, v), reference(X, y, w, v)[1])
    run(benchmark, GROUP_HVP, "autograd make_hvp", "peer", call, w, v)


def test_torch_double_backward(benchmark, problem):
    torch = peer("torch")
    X, y, w, v = problem
    tX, ty, tv = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(v)

    def call(w):
        tw = torch.from_numpy(w).requires_grad_(True)
        (g,) = torch.autograd.grad(loss(torch, tX, ty, tw, relu=torch.relu), tw,
                                   create_graph=True)
        (hv,) = torch.autograd.grad(g @ tv, tw)
        return hv.numpy()
    check(call(w), reference(X, y, w, v)[1])
    run(benchmark, GROUP_HVP, "pytorch double backward", "peer", call, w)


def test_jax_nojit_hvp(benchmark, problem):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    X, y, w, v = problem
    grad = jax.grad(lambda w: loss(jnp, X, y, w))
    call = lambda w, v: np.asarray(jax.jvp(grad, (w,), (v,))[1])  # noqa: E731
    check(call(w, v), reference(X, y, w, v)[1])
    run(benchmark, GROUP_HVP, "jax jvp(grad) (no jit)", "peer", call, w, v)


def test_jax_jit_grad(benchmark, problem):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    X, y, w, v = problem
    grad = jax.jit(jax.grad(lambda w: loss(jnp, X, y, w)))
    call = lambda w: np.asarray(grad(w))  # noqa: E731
    check(compiled(benchmark, lambda: call(w)), reference(X, y, w, v)[0])
    run(benchmark, GROUP_GRAD, "jax (jit, steady state)", "peer", call, w)


def test_jax_jit_hvp(benchmark, problem):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    X, y, w, v = problem
    grad = jax.grad(lambda w: loss(jnp, X, y, w))
    hvp = jax.jit(lambda w, v: jax.jvp(grad, (w,), (v,))[1])
    call = lambda w, v: np.asarray(hvp(w, v))  # noqa: E731
    check(compiled(benchmark, lambda: call(w, v)), reference(X, y, w, v)[1])
    run(benchmark, GROUP_HVP, "jax jvp(grad) (jit, steady state)", "peer", call, w, v)
