"""W10: Taylor coefficients of order 10 of a scalar chain, by propagating
truncated series (fastad.taylor, JAX's jet) against the series written by
hand, and against one reverse gradient of the same chain.

autograd and PyTorch have no Taylor mode: their users nest derivatives ten
deep, at a cost exponential in the order.  PyTorch's nested backward (about
40 s a call) runs once per full run; autograd's (about 2 s at order 6,
doubling per order) is not timed."""
import math

import pytest

from benchmarks.common import QUICK, check, compiled, peer, run

ORDER = 10
X0 = 0.3
GROUP = "W10 Taylor coefficients to order 10, 100-op chain"
GROUP_RATIO = "W10 Taylor order 10 vs one gradient, 1,000-op chain"


def chain(x, sin, exp, tanh, n_ops=100):
    """Five operations per iteration (mul-add, sin, exp, tanh, scale-add)."""
    acc = x
    for k in range(n_ops // 5):
        acc = acc + 0.1 * tanh(exp(sin(acc * 0.5 + 0.01 * k)))
    return acc


def _mul(a, b):
    return [sum(a[j] * b[k - j] for j in range(k + 1)) for k in range(len(a))]


def hand_written_series(x0, order=ORDER, n_ops=100):
    """The same chain's Taylor series, by the textbook recurrences, in Python."""
    d = order
    acc = [x0, 1.0] + [0.0] * (d - 1)
    for k in range(n_ops // 5):
        a = [0.5 * c for c in acc]
        a[0] += 0.01 * k
        s, c = [math.sin(a[0])] + [0.0] * d, [math.cos(a[0])] + [0.0] * d
        for m in range(1, d + 1):
            s[m] = sum(j * a[j] * c[m - j] for j in range(1, m + 1)) / m
            c[m] = -sum(j * a[j] * s[m - j] for j in range(1, m + 1)) / m
        e = [math.exp(s[0])] + [0.0] * d
        for m in range(1, d + 1):
            e[m] = sum(j * s[j] * e[m - j] for j in range(1, m + 1)) / m
        t, w = [math.tanh(e[0])] + [0.0] * d, [0.0] * (d + 1)
        for m in range(1, d + 1):
            w[m - 1] = (1.0 if m == 1 else 0.0) - sum(t[i] * t[m - 1 - i] for i in range(m))
            t[m] = sum(j * e[j] * w[m - j] for j in range(1, m + 1)) / m
        acc = [p + 0.1 * q for p, q in zip(acc, t)]
    return acc


@pytest.fixture(scope="module")
def reference():
    return hand_written_series(X0)


def test_hand_written(benchmark, reference):
    run(benchmark, GROUP, "series by hand (Python)", "limit", hand_written_series, X0)


def test_fastad(benchmark, reference):
    import fastad
    import fastad.numpy as fnp
    taylor = lambda x: fastad.taylor(lambda t: chain(t, fnp.sin, fnp.exp, fnp.tanh), x, 1.0, ORDER)  # noqa: E731
    check(taylor(X0), reference, rtol=1e-10, atol=1e-12)
    run(benchmark, GROUP, "fastad taylor", "subject", taylor, X0)


def _jet(jit):
    """Coefficients from JAX's jet (which gives derivatives: divide by k!)."""
    jax = peer("jax")
    jnp = peer("jax.numpy")
    from jax.experimental import jet
    f = lambda x: chain(x, jnp.sin, jnp.exp, jnp.tanh)  # noqa: E731

    def terms(x):
        return jet.jet(f, (x,), ((1.0,) + (0.0,) * (ORDER - 1),))
    if jit:
        terms = jax.jit(terms)

    def series(x):
        primal, ts = terms(x)
        return [float(primal)] + [float(t) / math.factorial(k + 1) for k, t in enumerate(ts)]
    return series


@pytest.mark.skipif(QUICK, reason="JAX's jet without jit takes seconds per call; full runs only")
def test_jax_jet_nojit(benchmark, reference):
    series = _jet(jit=False)
    check(series(X0), reference, rtol=1e-8, atol=1e-10)
    run(benchmark, GROUP, "jax jet (no jit)", "peer", series, X0, rounds=2)


def test_jax_jet_jit(benchmark, reference):
    series = _jet(jit=True)
    check(compiled(benchmark, lambda: series(X0)), reference, rtol=1e-8, atol=1e-10)
    run(benchmark, GROUP, "jax jet (jit, steady state)", "peer", series, X0)


def torch_nested_backward(x0):
    """The coefficients by nesting torch.autograd.grad ten deep (k-th
    derivative over k!), the way PyTorch users get high derivatives."""
    torch = peer("torch")
    x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    y = chain(x, torch.sin, torch.exp, torch.tanh)
    coefficients = [y.item()]
    for k in range(1, ORDER + 1):
        (y,) = torch.autograd.grad(y, x, create_graph=k < ORDER)
        coefficients.append(y.item() / math.factorial(k))
    return coefficients


@pytest.mark.skipif(QUICK, reason="PyTorch's nested backward takes about 40 s; full runs only")
def test_torch_nested_backward(benchmark, reference):
    peer("torch")
    benchmark.group = GROUP
    benchmark.extra_info.update(impl="pytorch nested backward", role="peer")
    # one round, checked by its own result: the call is the measurement
    result = benchmark.pedantic(torch_nested_backward, args=(X0,), rounds=1, iterations=1,
                                warmup_rounds=0)
    check(result, reference, rtol=1e-8, atol=1e-10)


def test_fastad_taylor_against_gradient(benchmark):
    import fastad
    import fastad.numpy as fnp
    f = lambda t: chain(t, fnp.sin, fnp.exp, fnp.tanh, n_ops=1000)  # noqa: E731
    coefficients = fastad.taylor(f, X0, 1.0, ORDER)
    check(coefficients[1], fastad.grad(f)(X0), rtol=1e-12)
    run(benchmark, GROUP_RATIO, "fastad taylor order 10", "subject",
        fastad.taylor, f, X0, 1.0, ORDER)


def test_fastad_gradient_of_the_same_chain(benchmark):
    import fastad
    import fastad.numpy as fnp
    grad = fastad.grad(lambda t: chain(t, fnp.sin, fnp.exp, fnp.tanh, n_ops=1000))
    check(grad(X0), hand_written_series(X0, order=1, n_ops=1000)[1], rtol=1e-12)
    run(benchmark, GROUP_RATIO, "fastad grad", "limit", grad, X0)
