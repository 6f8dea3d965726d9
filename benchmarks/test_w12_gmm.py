"""W12: gradient of the Gaussian-mixture-model objective of ADBench and
GradBench (evals/gmm): the log posterior (their sign; its negative is the
loss one minimises) of a mixture of k Gaussians in d dimensions at n
points, with a Wishart prior on the inverse covariances, with respect to
the mixture weights' logits alpha (k), the means (k x d) and the inverse
covariance factors Q = diag(exp(q)) + L (q: k x d; l: the k strictly lower
triangles, k x d(d-1)/2, column by column as GradBench orders them).  The
objective is written once, the way a NumPy user writes it, and runs
unchanged on NumPy, fastad.numpy, autograd.numpy and jax.numpy (PyTorch
through an adapter: its max over an axis is amax); the limit is the gradient derived by hand."""
import functools
import math
import types

import numpy as np
import pytest

from benchmarks.common import alternating, central_differences, check, compiled, peer, run

SIZES = [(10, 25, 1000), (2, 5, 1000)]  # (d, k, n)
GAMMA, M = 1.0, 0  # GradBench's Wishart parameters
TOLERANCE = dict(rtol=1e-8, atol=1e-9)  # (sums of 1,000 terms, in other orders)


def group(d, k, n):
    return "W12 GMM gradient d=%d k=%d n=%d" % (d, k, n)


def tril_embedding(d):
    """The constant (d(d-1)/2, d, d) 0/1 array that places l's entries in a
    strictly lower-triangular matrix, column by column: (1,0), (2,0), ...,
    (d-1,0), (2,1), ..."""
    pairs = [(r, c) for c in range(d) for r in range(c + 1, d)]
    E = np.zeros((len(pairs), d, d))
    for t, (r, c) in enumerate(pairs):
        E[t, r, c] = 1.0
    return E


def gmm_constant(d, k, n, gamma=GAMMA, m=M):
    """The terms that depend on no parameter: the Gaussians' normalisation
    and the Wishart prior's (scipy's multigammaln; a constant, not
    differentiated)."""
    from scipy.special import multigammaln
    dof = d + m + 1
    return (-n * d * 0.5 * math.log(2 * math.pi)
            + k * (dof * d * math.log(gamma / math.sqrt(2)) - multigammaln(0.5 * dof, d)))


def logsumexp(np_, a):
    """log(sum(exp(a))) over the last axis, shifted by its maximum."""
    top = np_.max(a, axis=-1, keepdims=True)
    return np_.log(np_.sum(np_.exp(a - top), axis=-1)) + top[..., 0]


def gmm_objective(np_, alpha, means, q, l, x, tril, constant, gamma=GAMMA, m=M):
    """GradBench's objective: log likelihood of the mixture plus the log of
    the Wishart prior, with each component's log density
    log|Q_k| - |Q_k (x - mu_k)|^2 / 2 (plus the constant)."""
    n = x.shape[0]
    Qdiags = np_.exp(q)                                   # (k, d)
    sum_qs = np_.sum(q, axis=1)                           # log det Q_k
    Ls = np_.einsum("kt,tij->kij", l, tril)               # (k, d, d), strictly lower
    xcentered = x[:, None, :] - means[None, :, :]         # (n, k, d)
    Lxcentered = Qdiags * xcentered + np_.einsum("ijk,mik->mij", Ls, xcentered)
    sqsum_Lxcentered = np_.sum(Lxcentered ** 2, axis=2)   # (n, k)
    inner_term = alpha + sum_qs - 0.5 * sqsum_Lxcentered
    slse = np_.sum(logsumexp(np_, inner_term))
    frobenius = np_.sum(Qdiags ** 2, axis=1) + np_.sum(l ** 2, axis=1)  # |Q_k|_F^2
    log_prior = -np_.sum(0.5 * gamma * gamma * frobenius - m * sum_qs)
    return constant + slse - n * logsumexp(np_, alpha) + log_prior


def hand_written(alpha, means, q, l, x, tril, constant, gamma=GAMMA, m=M):
    """The gradient with respect to (alpha, means, q, l), derived by hand.

    With y_ik = Q_k (x_i - mu_k) and r_ik = softmax_k(inner_ik) (the
    responsibilities): d/dalpha_k = sum_i r_ik - n softmax(alpha)_k;
    d/dQ_k = -sum_i r_ik y_ik (x_i - mu_k)^T, whose diagonal (times
    exp(q_k)) and strict lower triangle give q's and l's gradients, beside
    the log-det term sum_i r_ik and the prior's; and
    d/dmu_k = sum_i r_ik Q_k^T y_ik."""
    n = x.shape[0]
    Qdiags = np.exp(q)
    Qs = np.einsum("kt,tij->kij", l, tril) + Qdiags[:, :, None] * np.eye(q.shape[1])
    xcentered = x[None, :, :] - means[:, None, :]           # (k, n, d): batched matmuls
    y = xcentered @ Qs.transpose(0, 2, 1)                    # y[k, i] = Q_k (x_i - mu_k)
    inner = (alpha + q.sum(axis=1))[:, None] - 0.5 * np.sum(y ** 2, axis=2)
    r = np.exp(inner - inner.max(axis=0))
    r /= r.sum(axis=0)                                       # (k, n) responsibilities
    weights = np.exp(alpha - alpha.max())
    ry = r[:, :, None] * y
    dQ = -(ry.transpose(0, 2, 1) @ xcentered)                # (k, d, d)
    d_alpha = r.sum(axis=1) - n * weights / weights.sum()
    d_means = np.sum(ry @ Qs, axis=1)
    d_q = (np.diagonal(dQ, axis1=1, axis2=2) * Qdiags + r.sum(axis=1)[:, None]
           - gamma * gamma * Qdiags ** 2 + m)
    d_l = np.einsum("kij,tij->kt", dQ, tril) - gamma * gamma * l
    return d_alpha, d_means, d_q, d_l


def likeliest_component(alpha, means, q, l, x, tril):
    """Each point's component of largest inner term (the logsumexp's max)."""
    Qs = np.einsum("kt,tij->kij", l, tril) + np.exp(q)[:, :, None] * np.eye(q.shape[1])
    y = (x[None, :, :] - means[:, None, :]) @ Qs.transpose(0, 2, 1)
    return np.argmax((alpha + q.sum(axis=1))[:, None] - 0.5 * np.sum(y ** 2, axis=2), axis=0)


# (parametrised test by test, not by a fixture, so that the limit and fastad
# run before the peers load at every size)
sizes = pytest.mark.parametrize("size", SIZES, ids=["d10-k25-n1000", "d2-k5-n1000"])


@functools.lru_cache(maxsize=None)
def problem(size):
    d, k, n = size
    rng = np.random.default_rng(0)
    # GradBench's generator, in its order
    x = rng.normal(size=(n, d))
    means = rng.uniform(size=(k, d))
    q = rng.normal(size=(k, d))
    l = rng.normal(size=(k, d * (d - 1) // 2))
    alpha = rng.normal(size=k)
    params = (alpha, means, q, l)
    data = (x, tril_embedding(d), gmm_constant(d, k, n))
    grad = hand_written(*params, *data)
    # the hand-written derivation, checked against central differences
    f = lambda *p: gmm_objective(np, *p, *data)  # noqa: E731
    for a, j, numeric in central_differences(f, params, picks=3, h=1e-6):
        check(grad[a].flat[j], numeric, rtol=1e-5, atol=1e-5, what="hand-written gradient")
    return params, data, grad


@sizes
def test_hand_written(benchmark, size):
    params, data, grad = problem(size)
    run(benchmark, group(*size), "numpy by hand", "limit", hand_written, *params, *data)


@sizes
def test_fastad(benchmark, size):
    import fastad
    import fastad.numpy as fnp
    params, data, grad = problem(size)
    gradient = fastad.grad(lambda *p: gmm_objective(fnp, *p, *data), argnums=(0, 1, 2, 3))
    check(gradient(*params), grad, **TOLERANCE)
    run(benchmark, group(*size), "fastad", "subject", gradient, *params)


@sizes
def test_fastad_recorded(benchmark, size):
    import fastad
    import fastad.numpy as fnp
    params, data, grad = problem(size)
    tape = fastad.record(lambda *p: gmm_objective(fnp, *p, *data), *params)
    # The tape guards which component the logsumexp's max picks for each
    # point: the second point moves every parameter by 1e-9 (relative), so
    # that no point's most likely component changes between the two.
    moved = tuple(p * (1 + 1e-9) for p in params)
    x, tril, constant = data
    assert np.array_equal(likeliest_component(*moved, x, tril),
                          likeliest_component(*params, x, tril))
    check(tape.gradient(*params), grad, **TOLERANCE)
    check(tape.gradient(*moved), hand_written(*moved, *data), **TOLERANCE)
    run(benchmark, group(*size), "fastad recorded", "subject",
        alternating(tape.gradient, params, moved))


@sizes
def test_autograd(benchmark, size):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    params, data, grad = problem(size)
    gradient = autograd.grad(lambda p: gmm_objective(anp, *p, *data))
    check(gradient(params), grad, **TOLERANCE)
    run(benchmark, group(*size), "autograd", "peer", gradient, params)


def torch_numpy(torch):
    """PyTorch under the NumPy names the objective uses: its max over an axis
    (values only) is amax."""
    return types.SimpleNamespace(exp=torch.exp, log=torch.log, sum=torch.sum,
                                 einsum=torch.einsum, max=torch.amax)


@sizes
def test_torch(benchmark, size):
    torch = peer("torch")
    params, data, grad = problem(size)
    tnp = torch_numpy(torch)
    x, tril, constant = data
    tx, ttril = torch.from_numpy(x), torch.from_numpy(tril)

    def gradient(*p):
        tp = [torch.from_numpy(v).requires_grad_(True) for v in p]
        out = gmm_objective(tnp, *tp, tx, ttril, constant)
        return [g.numpy() for g in torch.autograd.grad(out, tp)]
    check(gradient(*params), grad, **TOLERANCE)
    run(benchmark, group(*size), "pytorch", "peer", gradient, *params)


@sizes
def test_jax_nojit(benchmark, size):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    params, data, grad = problem(size)
    gradient = jax.grad(lambda *p: gmm_objective(jnp, *p, *data), argnums=(0, 1, 2, 3))
    call = lambda *p: [np.asarray(g) for g in gradient(*p)]  # noqa: E731
    check(call(*params), grad, **TOLERANCE)
    run(benchmark, group(*size), "jax (no jit)", "peer", call, *params)


@sizes
def test_jax_jit(benchmark, size):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    params, data, grad = problem(size)
    gradient = jax.jit(jax.grad(lambda *p: gmm_objective(jnp, *p, *data), argnums=(0, 1, 2, 3)))
    call = lambda *p: [np.asarray(g) for g in gradient(*p)]  # noqa: E731
    check(compiled(benchmark, lambda: call(*params)), grad, **TOLERANCE)
    run(benchmark, group(*size), "jax (jit, steady state)", "peer", call, *params)
