"""W4: one loss-and-gradients call of a 784-256-256-10 relu MLP with softmax
cross-entropy, batch 128, float64 and float32, against a hand-written NumPy
forward/backprop (the limit) and the peers."""
import numpy as np
import pytest

from benchmarks.common import check, compiled, peer, run

SIZES = (784, 256, 256, 10)
BATCH = 128
DTYPES = ["float64", "float32"]


def problem(dtype, batch=BATCH):
    rng = np.random.default_rng(0)
    params = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
        params.append((rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype))
        params.append((0.1 * rng.standard_normal(n_out)).astype(dtype))
    X = rng.standard_normal((batch, SIZES[0])).astype(dtype)
    T = np.eye(SIZES[-1], dtype=dtype)[rng.integers(0, SIZES[-1], batch)]
    return params, X, T


def loss(np_, logsumexp, params, X, T, relu=None):
    relu = relu or (lambda a: np_.maximum(a, 0.0))
    W1, b1, W2, b2, W3, b3 = params
    h1 = relu(X @ W1 + b1)
    h2 = relu(h1 @ W2 + b2)
    logits = h2 @ W3 + b3
    return np_.mean(logsumexp(logits, axis=1) - np_.sum(logits * T, axis=1))


def hand_written(params, X, T):
    """Forward and backprop by hand, the lecture's unit-by-unit backward."""
    W1, b1, W2, b2, W3, b3 = params
    a1 = X @ W1 + b1
    h1 = np.maximum(a1, 0)
    a2 = h1 @ W2 + b2
    h2 = np.maximum(a2, 0)
    logits = h2 @ W3 + b3
    shift = logits.max(axis=1, keepdims=True)
    e = np.exp(logits - shift)
    s = e.sum(axis=1, keepdims=True)
    m = X.shape[0]
    value = np.mean(np.log(s[:, 0]) + shift[:, 0] - np.sum(logits * T, axis=1))
    d3 = (e / s - T) / m
    d2 = (d3 @ W3.T) * (a2 > 0)
    d1 = (d2 @ W2.T) * (a1 > 0)
    return value, [X.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0)]


def tolerance(dtype):
    # float64: the 1e-6 relative, met with margin; float32: its precision
    return dict(rtol=1e-6, atol=1e-9) if dtype == "float64" else dict(rtol=2e-3, atol=1e-5)


def group(dtype):
    return "W4 MLP 784-256-256-10, batch 128, %s: loss and gradients" % dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_hand_written(benchmark, dtype):
    params, X, T = problem(dtype)
    run(benchmark, group(dtype), "numpy by hand", "limit", hand_written, params, X, T)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fastad(benchmark, dtype):
    import fastad
    import fastad.numpy as fnp
    import fastad.scipy.special as fsp
    params, X, T = problem(dtype)
    value_and_grad = fastad.value_and_grad(lambda p, X, T: loss(fnp, fsp.logsumexp, p, X, T))
    value, grads = value_and_grad(params, X, T)
    assert all(g.dtype == np.dtype(dtype) for g in grads)
    check((value, grads), hand_written(params, X, T), **tolerance(dtype))
    run(benchmark, group(dtype), "fastad", "subject", value_and_grad, params, X, T)


@pytest.mark.parametrize("dtype", DTYPES)
def test_autograd(benchmark, dtype):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    special = peer("autograd.scipy.special")
    params, X, T = problem(dtype)
    value_and_grad = autograd.value_and_grad(lambda p: loss(anp, special.logsumexp, p, X, T))
    check(value_and_grad(params), hand_written(params, X, T), **tolerance(dtype))
    run(benchmark, group(dtype), "autograd", "peer", value_and_grad, params)


@pytest.mark.parametrize("dtype", DTYPES)
def test_torch(benchmark, dtype):
    torch = peer("torch")
    params, X, T = problem(dtype)
    tparams = [torch.from_numpy(p).requires_grad_(True) for p in params]
    tX, tT = torch.from_numpy(X), torch.from_numpy(T)

    def value_and_grad(ps):
        for p in ps:
            p.grad = None
        out = loss(torch, torch.logsumexp, ps, tX, tT, relu=torch.relu)
        out.backward()
        return out.item(), [p.grad.numpy() for p in ps]
    check(value_and_grad(tparams), hand_written(params, X, T), **tolerance(dtype))
    run(benchmark, group(dtype), "pytorch", "peer", value_and_grad, tparams)


@pytest.mark.parametrize("dtype", DTYPES)
def test_jax_jit(benchmark, dtype):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    params, X, T = problem(dtype)
    value_and_grad = jax.jit(jax.value_and_grad(
        lambda p: loss(jnp, jax.nn.logsumexp, p, X, T)))

    def call(p):
        value, grads = value_and_grad(p)
        return float(value), [np.asarray(g) for g in grads]
    check(compiled(benchmark, lambda: call(params)), hand_written(params, X, T), **tolerance(dtype))
    run(benchmark, group(dtype), "jax (jit, steady state)", "peer", call, params)
