"""W14: the k-means objective of GradBench (evals/kmeans), the sum over
n = 1,000 points in d = 16 of the squared distance to the nearest of
k = 100 centroids: the quantities of GradBench's `dir` (the Newton step
gradient / Hessian diagonal), that is the gradient with respect to the
centroids and the Hessian's diagonal.  The Hessian is diagonal (2 x the
number of points a centroid holds, on that centroid's coordinates), so
H @ ones is its diagonal; the peers get both by their second-order idioms
(JAX's jvp of grad, autograd's make_hvp, PyTorch's double backward), fastad
by the JVP of its gradient.  The objective is written once and runs
unchanged on NumPy, fastad.numpy, autograd.numpy and jax.numpy (PyTorch
through an adapter: its min over an axis is amin); the limit is the
closed form in NumPy."""
import types

import numpy as np
import pytest

from benchmarks.common import alternating, check, compiled, peer, run

K, N, D = 100, 1000, 16
GROUP = "W14 k-means k=%d n=%d d=%d: gradient and Hessian diagonal" % (K, N, D)
TOLERANCE = dict(rtol=1e-9, atol=1e-9)  # (sums of up to 1,000 terms of size 1)


def kmeans_cost(np_, points, centroids):
    """GradBench's cost, with its all-pairs squared distances written as
    |a|^2 + |b|^2 - 2 a.b (k x n)."""
    a_sqr = np_.sum(points ** 2, axis=1)[None, :]
    b_sqr = np_.sum(centroids ** 2, axis=1)[:, None]
    dists = a_sqr + b_sqr - 2 * (points @ centroids.T).T
    return np_.sum(np_.min(dists, axis=0))


def assignment(points, centroids):
    """The nearest centroid of each point, as kmeans_cost finds it."""
    dists = (np.sum(points ** 2, axis=1)[None, :] + np.sum(centroids ** 2, axis=1)[:, None]
             - 2 * (points @ centroids.T).T)
    return np.argmin(dists, axis=0)


def hand_written(points, centroids):
    """The closed form: 2 sum over a centroid's points of (c - x), and
    2 x their number on the diagonal."""
    nearest = assignment(points, centroids)
    counts = np.bincount(nearest, minlength=len(centroids)).astype(np.float64)
    members = np.zeros((len(centroids), len(points)))
    members[nearest, np.arange(len(points))] = 1.0
    gradient = 2.0 * (counts[:, None] * centroids - members @ points)
    return gradient, np.repeat(2.0 * counts[:, None], centroids.shape[1], axis=1)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    # GradBench's generator: points uniform on [0, 1)^d, the centroids the
    # last k of them, so that no cluster is empty
    points = rng.random((N, D))
    centroids = points[-K:].copy()
    return points, centroids, hand_written(points, centroids)


def test_hessian_is_diagonal():
    """The claim the workload rests on, on a small case: the dense Hessian
    is diagonal, 2 x the cluster sizes, so H @ ones is its diagonal."""
    import fastad
    import fastad.numpy as fnp
    rng = np.random.default_rng(1)
    points = rng.random((30, 3))
    centroids = points[-4:].copy() + 0.01
    hessian = fastad.hessian(lambda c: kmeans_cost(fnp, points, c.reshape(4, 3)))(centroids.ravel())
    gradient, diagonal = hand_written(points, centroids)
    check(hessian, np.diag(diagonal.ravel()), what="Hessian")
    check(fastad.grad(lambda c: kmeans_cost(fnp, points, c))(centroids), gradient)


def test_hand_written(benchmark, problem):
    points, centroids, reference = problem
    run(benchmark, GROUP, "numpy by hand", "limit", hand_written, points, centroids)


def test_fastad(benchmark, problem):
    import fastad
    import fastad.numpy as fnp
    points, centroids, reference = problem
    gradient = fastad.grad(lambda c: kmeans_cost(fnp, points, c))
    ones = np.ones_like(centroids)
    call = lambda c: fastad.jvp(gradient, (c,), (ones,))  # noqa: E731  (gradient, H @ ones)
    check(call(centroids), reference, **TOLERANCE)
    run(benchmark, GROUP, "fastad jvp(grad)", "subject", call, centroids)


def test_fastad_recorded(benchmark, problem):
    import fastad
    import fastad.numpy as fnp
    points, centroids, reference = problem
    # The gradient recorded as a tape; its jvp replays it with one tangent
    # sweep: (gradient, H @ ones).  The tape guards which centroid each
    # point's min picks: the second point moves the centroids by 1e-9
    # (relative), which changes no assignment.
    tape = fastad.record(fastad.grad(lambda c: kmeans_cost(fnp, points, c)), centroids)
    moved = centroids * (1 + 1e-9)
    assert np.array_equal(assignment(points, moved), assignment(points, centroids))
    ones = np.ones_like(centroids)
    call = lambda c: tape.jvp(c, ones)  # noqa: E731
    check(call(moved), hand_written(points, moved), **TOLERANCE)
    check(call(centroids), reference, **TOLERANCE)
    run(benchmark, GROUP, "fastad recorded", "subject", alternating(call, (centroids,), (moved,)))


def test_autograd(benchmark, problem):
    autograd = peer("autograd")
    anp = peer("autograd.numpy")
    points, centroids, reference = problem
    make_hvp = autograd.make_hvp(lambda c: kmeans_cost(anp, points, c))
    ones = np.ones_like(centroids)

    def call(c):
        hvp, gradient = make_hvp(c)
        return gradient, hvp(ones)
    check(call(centroids), reference, **TOLERANCE)
    run(benchmark, GROUP, "autograd make_hvp", "peer", call, centroids)


def torch_numpy(torch):
    """PyTorch under the NumPy names the objective uses: its min over an
    axis (values only) is amin."""
    return types.SimpleNamespace(sum=torch.sum, min=torch.amin)


def test_torch(benchmark, problem):
    torch = peer("torch")
    points, centroids, reference = problem
    tnp, tpoints = torch_numpy(torch), torch.from_numpy(points)
    ones = torch.ones(centroids.shape, dtype=torch.float64)

    def call(c):
        tc = torch.from_numpy(c).requires_grad_(True)
        (g,) = torch.autograd.grad(kmeans_cost(tnp, tpoints, tc), tc, create_graph=True)
        (h,) = torch.autograd.grad(g, tc, ones)
        return g.detach().numpy(), h.numpy()
    check(call(centroids), reference, **TOLERANCE)
    run(benchmark, GROUP, "pytorch double backward", "peer", call, centroids)


def test_jax_nojit(benchmark, problem):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    points, centroids, reference = problem
    gradient = jax.grad(lambda c: kmeans_cost(jnp, points, c))
    ones = np.ones_like(centroids)
    call = lambda c: [np.asarray(r) for r in jax.jvp(gradient, (c,), (ones,))]  # noqa: E731
    check(call(centroids), reference, **TOLERANCE)
    run(benchmark, GROUP, "jax jvp(grad) (no jit)", "peer", call, centroids)


def test_jax_jit(benchmark, problem):
    jax = peer("jax")
    jnp = peer("jax.numpy")
    points, centroids, reference = problem
    gradient = jax.grad(lambda c: kmeans_cost(jnp, points, c))
    ones = np.ones_like(centroids)
    both = jax.jit(lambda c: jax.jvp(gradient, (c,), (ones,)))
    call = lambda c: [np.asarray(r) for r in both(c)]  # noqa: E731
    check(compiled(benchmark, lambda: call(centroids)), reference, **TOLERANCE)
    run(benchmark, GROUP, "jax jvp(grad) (jit, steady state)", "peer", call, centroids)
