"""scipy.special and scipy.stats functions: values equal SciPy's, and
derivatives (both modes, second order) agree with central differences."""
import numpy as np
import pytest

import fastad as fd
import fastad.scipy.special as fs
import fastad.scipy.stats as fst

special = pytest.importorskip("scipy.special")
stats = pytest.importorskip("scipy.stats")

rng = np.random.default_rng(11)
POS = rng.uniform(0.5, 3.0, 4)
UNIT = rng.uniform(0.1, 0.9, 4)
REAL = rng.standard_normal(4)

# (name, fastad function, SciPy function, arguments)
CASES = [
    ("gamma", fs.gamma, special.gamma, (POS,)),
    ("rgamma", fs.rgamma, special.rgamma, (POS,)),
    ("psi", fs.psi, special.psi, (POS,)),
    ("erfinv", fs.erfinv, special.erfinv, (UNIT * 2 - 1,)),
    ("erfcinv", fs.erfcinv, special.erfcinv, (UNIT * 1.5,)),
    ("ndtr", fs.ndtr, special.ndtr, (REAL,)),
    ("log_ndtr", fs.log_ndtr, special.log_ndtr, (REAL * 3,)),
    ("ndtri", fs.ndtri, special.ndtri, (UNIT,)),
    ("i0", fs.i0, special.i0, (REAL,)),
    ("i1", fs.i1, special.i1, (REAL,)),
    ("j0", fs.j0, special.j0, (POS,)),
    ("j1", fs.j1, special.j1, (POS,)),
    ("y0", fs.y0, special.y0, (POS,)),
    ("y1", fs.y1, special.y1, (POS,)),
    ("iv", lambda x: fs.iv(2.5, x), lambda x: special.iv(2.5, x), (POS,)),
    ("jv", lambda x: fs.jv(1.5, x), lambda x: special.jv(1.5, x), (POS,)),
    ("yv", lambda x: fs.yv(0.5, x), lambda x: special.yv(0.5, x), (POS,)),
    ("beta", fs.beta, special.beta, (POS, POS[::-1])),
    ("betaln", fs.betaln, special.betaln, (POS, POS[::-1])),
    ("gammainc", lambda x: fs.gammainc(1.7, x), lambda x: special.gammainc(1.7, x), (POS,)),
    ("gammaincc", lambda x: fs.gammaincc(1.7, x), lambda x: special.gammaincc(1.7, x), (POS,)),
    ("multigammaln", lambda a: fs.multigammaln(a, 3), lambda a: special.multigammaln(a, 3),
     (2.7,)),
    ("gammainc(a, x)", fs.gammainc, special.gammainc, (POS, POS[::-1])),
    ("gammaincc(a, x)", fs.gammaincc, special.gammaincc, (POS, POS[::-1] * 2)),
    ("betainc", lambda x: fs.betainc(POS, 1.7, x), lambda x: special.betainc(POS, 1.7, x), (UNIT,)),
    ("betaincc", lambda x: fs.betaincc(2.2, POS, x), lambda x: special.betaincc(2.2, POS, x),
     (UNIT,)),
    ("stdtr", lambda t: fs.stdtr(POS + 1.0, t), lambda t: special.stdtr(POS + 1.0, t), (REAL * 3,)),
    ("jn", lambda x: fs.jn(2, x), lambda x: special.jn(2, x), (POS,)),
    ("yn", lambda x: fs.yn(2, x), lambda x: special.yn(2, x), (POS,)),
    ("ive", lambda x: fs.ive(1.3, x), lambda x: special.ive(1.3, x), (POS * 10,)),
    ("ive(0, x)", lambda x: fs.ive(0, x), lambda x: special.ive(0, x), (REAL * 3,)),
    ("logsumexp(b)", lambda a, b: fs.logsumexp(a, b=b), lambda a, b: special.logsumexp(a, b=b),
     (REAL, POS)),
    ("norm.logcdf", fst.norm.logcdf, stats.norm.logcdf, (REAL * 4, 0.3, 1.7)),
    ("norm.sf", fst.norm.sf, stats.norm.sf, (REAL, 0.3, 1.7)),
    ("norm.logsf", fst.norm.logsf, stats.norm.logsf, (REAL * 4, 0.3, 1.7)),
    ("t.logpdf", fst.t.logpdf, stats.t.logpdf, (REAL, 3.5, 0.2, 1.3)),
    ("gamma.logpdf", fst.gamma.logpdf, stats.gamma.logpdf, (POS, 2.2, 0.1, 1.4)),
    ("beta.logpdf", fst.beta.logpdf, stats.beta.logpdf, (UNIT, 2.2, 3.1)),
    ("expon.logpdf", fst.expon.logpdf, stats.expon.logpdf, (POS, 0.2, 1.5)),
    ("poisson.logpmf", lambda mu: fst.poisson.logpmf(np.array([0, 1, 4, 7]), mu),
     lambda mu: stats.poisson.logpmf(np.array([0, 1, 4, 7]), mu), (POS,)),
]


@pytest.mark.parametrize("name, fun, reference, args", CASES, ids=[c[0] for c in CASES])
def test_values_and_derivatives(name, fun, reference, args):
    np.testing.assert_allclose(fun(*args), reference(*args), rtol=1e-13, atol=1e-300)
    fd.check_grads(fun, *args, modes=("fwd", "rev"), order=2)


def test_underivable_arguments_say_so():
    """As in autograd and JAX: no rule for betainc's a and b (nor t.cdf's df), a
    Bessel function's order; the error names the argument."""
    for fun, argument in [(lambda a: fs.betainc(a, 2.0, 0.3), "betainc is not differentiable "
                           "with respect to a"),
                          (lambda b: fs.betaincc(1.5, b, 0.3), "with respect to b"),
                          (lambda df: fs.stdtr(df, 0.3), "stdtr is not differentiable with "
                           "respect to df"),
                          (lambda v: fs.jv(v, 2.0), "order v"),
                          (lambda v: fs.ive(v, 2.0), "order v"),
                          (lambda v: fs.yn(v, 2.0), "order v")]:
        for operator in (fd.grad, fd.deriv):
            with pytest.raises(NotImplementedError, match=argument):
                operator(fun)(2.0)


def test_log_ndtr_far_in_the_lower_tail():
    g = fd.grad(fs.log_ndtr)(-40.0)
    assert np.isfinite(g) and abs(g - 40.0) < 0.03  # d log Phi(x) ~ -x there


# -- the derivatives of gammainc in a, to any order -------------------------------------

@pytest.mark.parametrize("a, x", [(0.5, 0.2), (1.7, 2.0), (3.0, 1.0), (0.3, 4.0), (10.0, 9.0),
                                  (10.0, 12.0), (100.0, 95.0), (100.0, 110.0), (0.01, 0.01),
                                  (5.0, 50.0)])
def test_gammainc_derivatives_in_a_against_mpmath(a, x):
    """d^n/da^n gammainc and d/dx of it, n = 1..4, against mpmath's to 40 digits.
    Measured: relative error <= 1.7e-13 in a (the series or continued fraction
    run on Taylor series in a), <= 8e-12 for d/dx d^n/da^n (autodiff of the
    x-rule's Bell polynomial, which cancels at a = 0.01 and a = 100)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    P = lambda s, t: mpmath.gammainc(s, 0, t, regularized=True)  # noqa: E731
    fun = lambda a, x: fs.gammainc(a, x)  # noqa: E731
    derivative = fun
    for n in range(1, 5):
        derivative = fd.grad(derivative)
        exact = float(mpmath.diff(lambda s: P(s, x), a, n))
        np.testing.assert_allclose(derivative(a, x), exact, rtol=5e-13)
        exact_x = float(mpmath.diff(P, (a, x), (n, 1)))
        np.testing.assert_allclose(fd.grad(derivative, argnum=1)(a, x), exact_x, rtol=2e-11)


def test_gammainc_derivative_in_a_agrees_with_jax():
    """jax.grad of jax.scipy.special.gammainc in a (XLA's igamma_grad_a), recorded
    with jax 0.10.2 (float64); JAX stops at the first order, fastad goes on."""
    a, x = np.array([0.7, 1.7, 3.0, 12.0]), np.array([0.3, 2.0, 5.5, 10.0])
    jax = [-0.63762178, -0.28893129, -0.08711687, -0.10513167]
    np.testing.assert_allclose(fd.elementwise_grad(fs.gammainc)(a, x), jax, rtol=1e-7)
    np.testing.assert_allclose(fd.elementwise_grad(fs.gammaincc)(a, x), -np.array(jax), rtol=1e-7)
    fd.check_grads(fs.gammainc, a, x, modes=("fwd", "rev"), order=3)
    fd.check_grads(fs.gammaincc, a, x, modes=("fwd", "rev"), order=2)


def test_gammainc_derivative_in_a_at_the_edges():
    a = np.array([2.0, 2.0, -1.0, 1e4, 0.5])
    x = np.array([0.0, np.inf, 1.0, 1.0001e4, 1e-300])
    g = fd.elementwise_grad(lambda a: fs.gammainc(a, x))(a)
    assert g[0] == 0.0 and g[1] == 0.0 and np.isnan(g[2])  # P = 0 at x = 0, 1 at inf; a < 0: NaN
    h = 1e-3  # large a: against a central difference of SciPy's own gammainc
    np.testing.assert_allclose(
        g[3], (special.gammainc(a[3] + h, x[3]) - special.gammainc(a[3] - h, x[3])) / (2 * h),
        rtol=1e-6)
    assert np.isfinite(g[4]) and g[4] < 0
    assert fd.grad(lambda a: fs.gammainc(a, np.float32(2.0)))(np.float32(1.5)).dtype == np.float32


# -- the rules autograd defines, in its own formulas ------------------------------------

def test_rules_agree_with_autograds_formulas():
    x, n = POS * 3, 1.5
    # ive: autograd's g * (ans * (n / x - sign(x)) + ive(n + 1, x))
    np.testing.assert_allclose(fd.elementwise_grad(lambda x: fs.ive(n, x))(x),
                               special.ive(n, x) * (n / x - 1.0) + special.ive(n + 1, x),
                               rtol=1e-13)
    # jn, yn: (C(n - 1, x) - C(n + 1, x)) / 2
    for f, ref in [(fs.jn, special.jn), (fs.yn, special.yn)]:
        np.testing.assert_allclose(fd.elementwise_grad(lambda x: f(2, x))(x),
                                   (ref(1, x) - ref(3, x)) / 2.0, rtol=1e-13)
    # betainc: x^(a-1) (1-x)^(b-1) / B(a, b)
    a, b, u = POS, POS[::-1], UNIT
    np.testing.assert_allclose(fd.elementwise_grad(lambda u: fs.betainc(a, b, u))(u),
                               u ** (a - 1) * (1 - u) ** (b - 1) / special.beta(a, b), rtol=1e-13)
    # logsumexp with b: g * b * exp(x - ans)
    bb = np.exp(REAL[::-1])
    np.testing.assert_allclose(fd.grad(lambda a: fs.logsumexp(a, b=bb))(REAL),
                               bb * np.exp(REAL - special.logsumexp(REAL, b=bb)), rtol=1e-14)
    # gammasgn: no derivative (autograd's defvjp(gammasgn, None): zero)
    assert fd.grad(lambda x: np.sum(fs.gammasgn(x) * x))(np.array([-1.5, -0.5, 2.0])).tolist() \
        == special.gammasgn(np.array([-1.5, -0.5, 2.0])).tolist()
    assert type(fs.gammasgn(np.array([-0.5, 2.0]))) is np.ndarray


# -- logsumexp's weights ---------------------------------------------------------------

def test_logsumexp_weights_as_scipy():
    a = np.array([[1.0, 2.0, 0.5], [3.0, 4.0, -1.0]])
    for b in [np.array([1.0, -2.0, 0.5]), np.array([[0.5], [2.0]]), np.array([1.0, 0.0, 2.0]),
              2.0, np.array([[1.0, 1.0, -3.0], [-1.0, 0.0, 0.0]])]:
        for axis in [None, 0, 1, (0, 1), -1]:
            for keepdims in (False, True):
                expected = special.logsumexp(a, axis=axis, b=b, keepdims=keepdims,
                                             return_sign=True)
                got = fs.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=True)
                np.testing.assert_allclose(got[0], expected[0], rtol=1e-14)
                np.testing.assert_array_equal(got[1], expected[1])
                with np.errstate(invalid="ignore"):
                    np.testing.assert_allclose(
                        fs.logsumexp(a, axis=axis, b=b, keepdims=keepdims),
                        special.logsumexp(a, axis=axis, b=b, keepdims=keepdims), rtol=1e-14)
    # zero weights leave out their terms, even an infinite a; a zero sum is -inf with sign 0
    assert fs.logsumexp(np.array([np.inf, 1.0]), b=np.array([0.0, 1.0])) == 1.0
    assert fs.logsumexp(np.array([1.0, 1.0]), b=np.array([1.0, -1.0]), return_sign=True) \
        == (-np.inf, 0.0)
    # a 0-d a reduces as shape (1,) (keepdims: shape (1,)), as SciPy
    assert np.shape(fs.logsumexp(np.float64(1.0), keepdims=True)) == (1,)
    assert fs.logsumexp(1.0, b=2.0) == special.logsumexp(1.0, b=2.0)


def test_logsumexp_weights_derivatives():
    a = REAL.reshape(2, 2)
    for b in [np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([0.7, 1.3]),
              np.array([[-1.0], [-0.2]])]:
        for axis in [None, 0, 1]:
            fd.check_grads(lambda a, b: fs.logsumexp(a, axis=axis, b=b, return_sign=True)[0],
                           a, b, modes=("fwd", "rev"), order=2)
    # d/db = sgn exp(a - ans); at a zero weight too, but d/da is 0 there
    ga, gb = fd.grad(lambda a, b: fs.logsumexp(a, b=b), (0, 1))(np.array([0.0, 1.0]),
                                                                np.array([0.0, 2.0]))
    np.testing.assert_allclose(ga, [0.0, 1.0])
    np.testing.assert_allclose(gb, [np.exp(-1.0) / 2.0, 0.5])
    # a 1000 apart: finite
    g = fd.grad(lambda a: fs.logsumexp(a, b=np.array([2.0, -1.0])))(np.array([1000.0, -1000.0]))
    assert np.all(np.isfinite(g))


def test_new_special_float32():
    x = np.float32(POS)
    for fun in [lambda x: fs.betainc(np.float32(1.5), np.float32(2.0), x / 4),
                lambda x: fs.yn(2, x),
                lambda x: fs.ive(np.float32(1.5), x), lambda x: fs.stdtr(np.float32(3.0), x),
                lambda x: fs.logsumexp(x, b=x)]:
        assert np.asarray(fun(x)).dtype == np.float32
        assert fd.grad(lambda x: np.sum(fun(x)))(x).dtype == np.float32
