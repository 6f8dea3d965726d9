"""fastad.scipy.stats against scipy.stats: every distribution's methods give
SciPy's values (inside and outside the support, in the tails, for invalid
parameters) and derivatives in every float argument, both modes, second
order, against central differences; where JAX has a rule, its figures."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
from fastad.scipy import stats

scipy_stats = pytest.importorskip("scipy.stats")

rng = numpy.random.default_rng(7)
REAL = rng.standard_normal((2, 3))
POS = rng.uniform(0.5, 3.0, (2, 3))
UNIT = rng.uniform(0.1, 0.9, (2, 3))
ROW = rng.uniform(1.5, 4.0, 3)  # a shape parameter broadcasting against x

# name: (arguments x, shape parameters..., loc, scale, with x inside the support;
#        the arguments the cdf family is not differentiable in)
CONTINUOUS = {
    "norm": ((REAL * 2, 0.3, 1.7), ()),
    "t": ((REAL * 2, ROW, 0.2, 1.3), (1,)),  # stdtr in df: no rule (nor in autograd, JAX)
    "gamma": ((POS, ROW, 0.1, 1.4), ()),
    "beta": ((UNIT, ROW, 2.5, -0.1, 1.2), (1, 2)),  # betainc in a and b: no rule
    "expon": ((POS, 0.2, 1.5), ()),
    "chi2": ((POS * 2, ROW, 0.1, 1.3), ()),
}
METHODS = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"]
# x beyond both ends of every support, at its edges, in both tails, NaN
EDGES = numpy.array([-numpy.inf, -1e3, -40.0, -1.0, 0.0, 1e-300, 1e-20, 0.3, 1.0, 1.0 + 1e-12, 3.0,
                     40.0, 1e3, numpy.inf, numpy.nan])
# shape parameters, including invalid ones (SciPy's NaN) and t's df = inf
PARAMETERS = {"norm": [(), (0.5, 2.0), (0.0, -1.0)],
              "t": [(3.5,), (0.7, 0.5), (numpy.inf,), (-1.0,)],
              "gamma": [(2.2, 0.1, 1.4), (0.5,), (1.0,), (0.0,)],
              "beta": [(2.2, 3.1), (0.5, 0.7), (2.0, 2.0, -0.5, 3.0), (1.0, -1.0)],
              "expon": [(), (0.2, 1.5), (0.0, 0.0)], "chi2": [(3.0,), (0.5, 0.0, 2.0), (-2.0,)]}


def assert_same(got, expected, rtol=1e-12):
    """Equal to rtol where finite, identical infinities and NaNs."""
    got, expected = numpy.asarray(got, numpy.float64), numpy.asarray(expected, numpy.float64)
    assert got.shape == expected.shape
    numpy.testing.assert_array_equal(numpy.isnan(got), numpy.isnan(expected))
    finite = numpy.isfinite(expected)
    numpy.testing.assert_array_equal(got[~finite & ~numpy.isnan(expected)],
                                     expected[~finite & ~numpy.isnan(expected)])
    numpy.testing.assert_allclose(got[finite], expected[finite], rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_values_everywhere_equal_scipys(name, method):
    for parameters in PARAMETERS[name]:
        with numpy.errstate(all="ignore"):
            expected = getattr(getattr(scipy_stats, name), method)(EDGES, *parameters)
        assert_same(getattr(getattr(stats, name), method)(EDGES, *parameters), expected)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_derivatives_in_every_argument(name, method):
    """Broadcasting arrays, every float argument at once (a Python float loc
    and scale too), forward and reverse, to second order."""
    args, no_rule = CONTINUOUS[name]
    fun = getattr(getattr(stats, name), method)
    numpy.testing.assert_allclose(fun(*args), getattr(getattr(scipy_stats, name), method)(*args),
                                  rtol=1e-13)
    fixed = no_rule if method not in ("logpdf", "pdf") else ()
    free = [i for i in range(len(args)) if i not in fixed]

    def of_free(*values):
        full = list(args)
        for i, v in zip(free, values):
            full[i] = v
        return fun(*full)
    fd.check_grads(of_free, *[args[i] for i in free], modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("case", [("t", "cdf", 1, "df"), ("t", "logsf", 1, "df"),
                                  ("beta", "cdf", 1, "respect to a"),
                                  ("beta", "logcdf", 2, "respect to b")], ids=str)
def test_shape_parameters_without_a_rule_say_so(case):
    name, method, position, argument = case
    args = list(CONTINUOUS[name][0])
    fun = getattr(getattr(stats, name), method)

    def of_parameter(p):
        return fnp.sum(fun(*args[:position], p, *args[position + 1:]))
    with pytest.raises(NotImplementedError, match=argument):
        fd.grad(of_parameter)(args[position])
    # the other arguments still differentiate, with the parameter a constant
    assert numpy.all(numpy.isfinite(fd.grad(lambda x: fnp.sum(fun(x, *args[1:])))(args[0])))


def test_shape_derivatives_of_the_gamma_cdfs_agree_with_jax():
    """gamma.cdf and chi2.cdf in the shape go through d/da gammainc, as in JAX:
    jax.grad at (x, a|df, loc, scale) = (1.3, 2.2|3.5, 0.2, 1.4), jax 0.10.2."""
    jax = {("gamma", "cdf"): [0.2212352957241718, -0.19018885193653245, -0.2212352957241718,
                              -0.17382773235470647],
           ("gamma", "logsf"): [-0.25837278096729877, 0.22211475082658252, 0.25837278096729877,
                                0.2030071850457348],
           ("chi2", "cdf"): [0.13018387991486874, -0.08570650237730723, -0.13018387991486874,
                             -0.10228733421882547],
           ("t", "logpdf"): [-0.6133828996282529, 0.03484558477941638, 0.6133828996282529,
                             -0.23234200743494415]}
    for (name, method), expected in jax.items():
        shape = 3.5 if name in ("chi2", "t") else 2.2
        got = fd.grad(getattr(getattr(stats, name), method), (0, 1, 2, 3))(1.3, shape, 0.2, 1.4)
        numpy.testing.assert_allclose(got, expected, rtol=1e-13)


def test_outside_the_support_the_derivatives_are_zero():
    """The standard form sees a point of the support instead: finite, and 0."""
    x = numpy.array([-1.0, 0.5, 2.0, 30.0])
    for name, shape in [("gamma", (2.0,)), ("chi2", (3.0,)), ("expon", ()), ("beta", (2.0, 3.0))]:
        xs = x / 4 if name == "beta" else x
        outside = (xs < 0) | (xs > 1) if name == "beta" else xs < 0
        for method in METHODS:
            fun = getattr(getattr(stats, name), method)
            with numpy.errstate(all="raise"):
                g = fd.elementwise_grad(lambda x: fun(x, *shape))(xs)
                gloc, gscale = fd.grad(lambda loc, scale: fnp.sum(fnp.where(
                    outside, fun(xs, *shape, loc, scale), 0.0)), (0, 1))(0.0, 1.0)
            assert numpy.all(numpy.isfinite(g)) and numpy.all(g[outside] == 0.0), (name, method)
            assert gloc == 0.0 and gscale == 0.0


def test_tails():
    """log cdf and log sf stay finite and accurate where the cdf underflows or
    rounds to 1; their derivatives too (against mpmath where given)."""
    assert stats.norm.logcdf(-40.0) == pytest.approx(scipy_stats.norm.logcdf(-40.0), rel=1e-14)
    assert stats.norm.logsf(40.0, 0.5) == pytest.approx(scipy_stats.norm.logsf(40.0, 0.5),
                                                         rel=1e-14)
    assert stats.norm.cdf(-30.0) == pytest.approx(scipy_stats.norm.cdf(-30.0), rel=1e-12)
    # d/dx log Phi((x - 0.2) / 1.4) at x = -40: phi/Phi/1.4 by mpmath (jax.grad: 20.535019730451648)
    assert fd.grad(stats.norm.logcdf)(-40.0, 0.2, 1.4) == pytest.approx(20.53501972583146,
                                                                        rel=1e-13)
    cases = [("t", "logcdf", 50.0, (3.0,), -8.808614816369566e-06),  # mpmath, 50 digits
             ("t", "logcdf", -1e3, (2.5,), -17.5988121725629),
             ("gamma", "logsf", 100.0, (2.5,), -93.3619654541246),
             ("gamma", "logcdf", 100.0, (2.5,), -2.840622898626861e-41),
             ("gamma", "logcdf", 1e-5, (2.5,), -29.983294407627522),
             ("beta", "logsf", 0.999999, (2.0, 3.0), -40.06023806268695),
             ("beta", "logcdf", 0.999999, (2.0, 3.0), -3.9999970003450675e-18),
             ("expon", "logcdf", 50.0, (), -1.9287498479639178e-22),
             ("expon", "logcdf", 1e-20, (), -46.051701859880914)]
    for name, method, x, shape, exact in cases:
        fun = getattr(getattr(stats, name), method)
        assert fun(x, *shape) == pytest.approx(exact, rel=1e-13), (name, method, x)
        assert numpy.isfinite(fd.grad(fun)(x, *shape)), (name, method, x)
    # d/dx log(1 - e^-x) = 1 / (e^x - 1), where the cdf rounds to 1
    assert fd.grad(stats.expon.logcdf)(50.0) == pytest.approx(numpy.exp(-50.0), rel=1e-13)


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_entropy(name):
    args, _ = CONTINUOUS[name]
    shapes = [numpy.asarray(a)[..., 0] if numpy.ndim(a) else a for a in args[1:-2]]
    entropy = getattr(stats, name).entropy
    reference = getattr(scipy_stats, name).entropy
    numpy.testing.assert_allclose(entropy(*shapes, args[-2], args[-1]),
                                  reference(*shapes, args[-2], args[-1]), rtol=1e-14)
    fd.check_grads(lambda *a: entropy(*a), *shapes, args[-2], args[-1], modes=("fwd", "rev"),
                   order=2)
    # SciPy's expansions for large parameters, and NaN for invalid ones
    large = {"t": [(150.0,), (numpy.inf,)], "gamma": [(300.0,)], "chi2": [(300.0,)],
             "beta": [(5e6, 6e6), (1.0, 3e7)]}.get(name, [])
    for shape in large + [tuple(-1.0 for _ in shapes)] * bool(shapes):
        with numpy.errstate(invalid="ignore"):
            expected = reference(*shape)
        assert_same(entropy(*shape), expected, rtol=1e-13)
        if numpy.isfinite(expected) and numpy.all(numpy.isfinite(shape)):
            fd.check_grads(lambda *a: entropy(*a), *shape, modes=("fwd", "rev"), order=2)
    assert numpy.isnan(entropy(*shapes, 0.0, -1.0))


def test_float32_stays_float32():
    """float32 data with float32 or Python-float parameters: float32 values and
    gradients (fastad's convention; SciPy itself computes in float64)."""
    for name, (args, no_rule) in CONTINUOUS.items():
        args32 = [a.astype(numpy.float32) if isinstance(a, numpy.ndarray) else a for a in args]
        python_shapes = [float(numpy.ravel(a)[0]) for a in args[1:]]
        for method in METHODS:
            fun = getattr(getattr(stats, name), method)
            for rest in (args32[1:], python_shapes):
                assert fun(args32[0], *rest).dtype == numpy.float32, (name, method)
            g = fd.grad(lambda x: fnp.sum(fun(x, *args32[1:])))(args32[0])
            assert g.dtype == numpy.float32
            numpy.testing.assert_allclose(
                g, fd.grad(lambda x: fnp.sum(fun(x, *args[1:])))(args[0]), rtol=2e-4, atol=1e-6)
        entropy = getattr(stats, name).entropy(*[numpy.float32(s) for s in python_shapes])
        assert numpy.asarray(entropy).dtype == numpy.float32, name


def test_scipy_calling_conventions():
    """Shape parameters and loc/scale by keyword, lists, Python scalars giving
    NumPy scalars, broadcasting."""
    assert stats.gamma.logpdf(2.0, a=1.5, scale=2.0) == scipy_stats.gamma.logpdf(2.0, a=1.5,
                                                                                 scale=2.0)
    assert isinstance(stats.t.cdf(0.3, 4), numpy.floating)
    numpy.testing.assert_allclose(stats.beta.pdf([0.2, 0.5], [[2.0], [3.0]], 1.5),
                                  scipy_stats.beta.pdf([0.2, 0.5], [[2.0], [3.0]], 1.5), rtol=1e-13)
    numpy.testing.assert_allclose(stats.norm.ppf([0.0, 0.3, 1.0, 1.5], 1.0, 2.0),
                                  scipy_stats.norm.ppf([0.0, 0.3, 1.0, 1.5], 1.0, 2.0), rtol=1e-14)
    numpy.testing.assert_allclose(stats.norm.isf(0.3, 1.0, 2.0),
                                  scipy_stats.norm.isf(0.3, 1.0, 2.0))
    assert numpy.isnan(stats.norm.ppf(0.3, 1.0, -2.0))
    fd.check_grads(stats.norm.ppf, 0.3, 1.0, 2.0, modes=("fwd", "rev"), order=2)


# -- the Poisson distribution -----------------------------------------------------------

K = numpy.array([-1, 0, 1, 1.5, 2, 7, 30, numpy.inf, numpy.nan])


@pytest.mark.parametrize("method", ["logpmf", "pmf", "cdf", "logcdf", "sf", "logsf"])
def test_poisson(method):
    fun, reference = getattr(stats.poisson, method), getattr(scipy_stats.poisson, method)
    for mu in [0.0, 0.3, 4.0, 25.0, -1.0]:
        with numpy.errstate(all="ignore"):
            expected = reference(K, mu)
            # log(cdf) near 1: SciPy's log rounds (-1.2469052465e-09 at k = 7, mu = 0.3; 0.0
            # at k = 30), fastad's log1p(-sf) does not
            cdf, sf = scipy_stats.poisson.cdf(K, mu), scipy_stats.poisson.sf(K, mu)
            if method == "logcdf" and mu >= 0:
                expected = numpy.where(numpy.isfinite(K) & (cdf >= 0.5), numpy.log1p(-sf), expected)
            if method == "logsf" and mu >= 0:
                expected = numpy.where((K >= 0) & (sf >= 0.5), numpy.log1p(-cdf), expected)
        if mu < 0:
            expected[K == numpy.inf] = numpy.nan  # (SciPy's logcdf gives 0 there for mu < 0)
        assert_same(fun(K, mu), expected)
    k, mu = numpy.array([[0], [1], [3], [7]]), numpy.array([0.5, 2.0, 6.0])
    fd.check_grads(lambda mu: fun(k, mu), mu, modes=("fwd", "rev"), order=2)
    fd.check_grads(lambda mu: fun(k + 2, mu, 2), mu, modes=("fwd", "rev"), order=2)  # loc
    with pytest.raises(NotImplementedError, match="with respect to k"):
        fd.grad(lambda k: fun(k, 2.0))(3.0)


def test_poisson_entropy():
    mu = numpy.array([0.0, 0.5, 3.0, 100.0])
    numpy.testing.assert_allclose(stats.poisson.entropy(mu), scipy_stats.poisson.entropy(mu),
                                  rtol=1e-13, atol=1e-15)
    # mu = 1e4, where SciPy's sum stops early (6.02159): mpmath's sum to 30 digits (the
    # log pmf itself, k log mu - mu - lgamma(k + 1), cancels to about 1e-11 there)
    assert stats.poisson.entropy(1e4) == pytest.approx(6.024100385442711, rel=5e-11)
    fd.check_grads(stats.poisson.entropy, mu[1:], modes=("fwd", "rev"), order=2)
    # jax.grad(jax.scipy.stats.poisson.entropy) (a truncated sum too)
    assert fd.grad(stats.poisson.entropy)(2.5) == pytest.approx(0.22313353076867748, rel=1e-10)
    assert fd.grad(lambda m: stats.poisson.cdf(3.0, m))(2.5) == pytest.approx(
        -scipy_stats.poisson.pmf(3, 2.5), rel=1e-14)  # autograd's rule: -pmf(floor(k), mu)


# -- the multivariate normal distribution ----------------------------------------------

def symmetric(c):
    return 0.5 * (c + fnp.swapaxes(c, -1, -2))


@pytest.mark.parametrize("shape", [(3,), (5, 3), (2, 4, 3)], ids=str)
@pytest.mark.parametrize("allow_singular", [False, True])
def test_multivariate_normal(shape, allow_singular):
    a = rng.standard_normal((3, 3))
    cov, mean, x = a @ a.T + numpy.eye(3), rng.standard_normal(3), rng.standard_normal(shape)
    for method in ["logpdf", "pdf"]:
        fun = getattr(stats.multivariate_normal, method)
        numpy.testing.assert_allclose(
            fun(x, mean, cov, allow_singular=allow_singular),
            getattr(scipy_stats.multivariate_normal, method)(x, mean, cov,
                                                             allow_singular=allow_singular),
            rtol=1e-12)
        fd.check_grads(lambda x, mean, c: fun(x, mean, symmetric(c), allow_singular=allow_singular),
                       x, mean, cov, modes=("fwd", "rev"), order=2)


def test_multivariate_normal_agrees_with_jax_and_autograd():
    cov = numpy.array([[2.0, 0.5], [0.5, 1.0]])
    mean, x = numpy.array([0.1, -0.3]), numpy.array([0.3, -0.2])
    gx, gm, gc = fd.grad(stats.multivariate_normal.logpdf, (0, 1, 2))(x, mean, cov)
    numpy.testing.assert_allclose(gx, [-0.08571428571428569, -0.05714285714285715], rtol=1e-14)
    numpy.testing.assert_allclose(gm, -gx, rtol=1e-14)
    numpy.testing.assert_allclose(gc, [[-0.2820408163265305, 0.14530612244897959],
                                       [0.14530612244897959, -0.569795918367347]], rtol=1e-13)
    # autograd's entropy rule: 0.5 inv(cov)^T
    numpy.testing.assert_allclose(fd.grad(stats.multivariate_normal.entropy, 1)(mean, cov),
                                  0.5 * numpy.linalg.inv(cov).T, rtol=1e-14)


def test_multivariate_normal_parameters_as_scipy():
    x = rng.standard_normal((4, 3))
    for mean, cov in [(numpy.zeros(3), 2.0), (numpy.zeros(3), numpy.array([1.0, 2.0, 0.5])),
                      (0.5, 2.0), (None, numpy.eye(3))]:
        reference = scipy_stats.multivariate_normal
        xs = x[:, 0] if numpy.ndim(mean) == 0 and mean is not None else x
        numpy.testing.assert_allclose(stats.multivariate_normal.logpdf(xs, mean, cov),
                                      reference.logpdf(xs, mean, cov), rtol=1e-13)
        numpy.testing.assert_allclose(stats.multivariate_normal.entropy(mean, cov),
                                      reference.entropy(mean, cov), rtol=1e-14)
    assert numpy.ndim(stats.multivariate_normal.logpdf(0.3, 0.1, 2.0)) == 0
    fd.check_grads(lambda x, s: stats.multivariate_normal.logpdf(x, numpy.zeros(3), s), x, 1.7,
                   modes=("fwd", "rev"), order=2)
    fd.check_grads(lambda x, d: stats.multivariate_normal.logpdf(x, numpy.zeros(3), d),
                   x, numpy.array([1.0, 2.0, 0.5]), modes=("fwd", "rev"), order=2)
    with pytest.raises(ValueError, match="Dimension mismatch"):
        stats.multivariate_normal.logpdf(x, numpy.zeros(2), numpy.eye(3))


def test_multivariate_normal_singular():
    """SciPy's pseudo-inverse and pseudo-determinant on the support, -inf off
    it; differentiable in x and mean (autograd's test: x moves in the support),
    and NotImplementedError for a traced singular cov, as autograd."""
    b = rng.standard_normal((4, 2))
    cov, mean = b @ b.T, numpy.full(4, 0.5)
    x = numpy.vstack([(b @ rng.standard_normal((2, 3))).T + mean, rng.standard_normal(4)])
    for method in ["logpdf", "pdf"]:
        kwargs = {"allow_singular": True}
        assert_same(getattr(stats.multivariate_normal, method)(x, mean, cov, **kwargs),
                    getattr(scipy_stats.multivariate_normal, method)(x, mean, cov, **kwargs))
    numpy.testing.assert_allclose(stats.multivariate_normal.entropy(mean, cov),
                                  scipy_stats.multivariate_normal.entropy(mean, cov), rtol=1e-13)
    with pytest.raises(numpy.linalg.LinAlgError, match="allow_singular"):
        stats.multivariate_normal.logpdf(x, mean, cov)
    with pytest.raises(ValueError, match="positive semidefinite"):
        stats.multivariate_normal.logpdf(x, mean, -numpy.eye(4))
    diagonal = numpy.diag([1.0, 1.0, 0.0, 0.0])

    def on_support(method):
        def fun(x, mean):
            x = fnp.concatenate([x[:2], mean[2:]])
            return getattr(stats.multivariate_normal, method)(x, mean, diagonal,
                                                              allow_singular=True)
        return fun
    x0 = numpy.concatenate([rng.standard_normal(2), numpy.zeros(2)])
    m0 = numpy.concatenate([rng.standard_normal(2), numpy.zeros(2)])
    for method in ["logpdf", "pdf"]:
        fd.check_grads(on_support(method), x0, m0, modes=("fwd", "rev"), order=2)
    with pytest.raises(NotImplementedError, match="singular cov"):
        fd.grad(lambda c: stats.multivariate_normal.logpdf(x0, m0, c,
                                                           allow_singular=True))(diagonal)
    with pytest.raises(NotImplementedError, match="singular cov"):
        fd.grad(lambda c: stats.multivariate_normal.entropy(m0, c))(diagonal)


# -- the Dirichlet distribution --------------------------------------------------------

def test_dirichlet():
    alpha = numpy.array([1.5, 2.0, 3.0, 0.7])
    x = rng.dirichlet(alpha, size=5).T  # components along the first axis, as SciPy
    for points in [x, x[:, 0], x[:-1], x[:-1, 0]]:
        for method in ["logpdf", "pdf"]:
            numpy.testing.assert_allclose(getattr(stats.dirichlet, method)(points, alpha),
                                          getattr(scipy_stats.dirichlet, method)(points, alpha),
                                          rtol=1e-13)
    numpy.testing.assert_allclose(stats.dirichlet.entropy(alpha),
                                  scipy_stats.dirichlet.entropy(alpha), rtol=1e-14)
    numpy.testing.assert_allclose(stats.dirichlet.mean(alpha), scipy_stats.dirichlet.mean(alpha))
    numpy.testing.assert_allclose(stats.dirichlet.var(alpha), scipy_stats.dirichlet.var(alpha))
    assert stats.dirichlet.rvs(alpha, size=2, random_state=0).shape == (2, 4)
    for method in ["logpdf", "pdf"]:
        fun = getattr(stats.dirichlet, method)
        fd.check_grads(lambda a: fun(x, a), alpha, modes=("fwd", "rev"), order=2)
        # in x on the simplex (autograd's test normalises x); with K - 1 components, freely
        fd.check_grads(lambda v: fun(v / fnp.sum(v), alpha), x[:, 1], modes=("fwd", "rev"), order=2)
        fd.check_grads(lambda v: fun(v, alpha), x[:-1] * 0.999, modes=("fwd", "rev"), order=2)
    for fun in [stats.dirichlet.entropy, stats.dirichlet.mean, stats.dirichlet.var]:
        fd.check_grads(fun, alpha, modes=("fwd", "rev"), order=2)
    # jax.grad(jax.scipy.stats.dirichlet.logpdf, 1) (jax 0.10.2)
    numpy.testing.assert_allclose(
        fd.grad(stats.dirichlet.logpdf, 1)(numpy.array([0.2, 0.3, 0.5]),
                                           numpy.array([1.5, 2.0, 3.0])),
        [0.14698344398725638, 0.1661541909755302, 0.17697981474152147], rtol=1e-13)
    for bad_x, message in [(x[:2], "same number of entries"), (x * 2, "smaller or equal one"),
                           (x * 0.5, "simplex")]:
        with pytest.raises(ValueError, match=message):
            stats.dirichlet.logpdf(bad_x, alpha)
    with pytest.raises(ValueError, match="greater than 0"):
        stats.dirichlet.logpdf(x, -alpha)


def test_recorded_tapes_guard_the_choices():
    """In the support or not, which tail, which summation window: comparisons
    of traced values, so a replay where one comes out differently raises."""
    f = lambda x: fnp.sum(stats.gamma.cdf(x, 2.0)) + stats.t.logsf(x[0] - 3.0, 3.0)  # noqa: E731
    tape = fd.record(f, numpy.array([1.0, 2.0]))
    x = numpy.array([1.5, 3.0])
    numpy.testing.assert_allclose(tape(x), f(x), rtol=1e-15)
    numpy.testing.assert_allclose(tape.gradient(x), fd.grad(f)(x), rtol=1e-15)
    for moved in ([-1.0, 3.0], [8.0, 3.0]):  # out of the support; into t's upper tail
        with pytest.raises(fd.RetapeRequired):
            tape(numpy.array(moved))
    tape = fd.record(f, numpy.array([1.0, 2.0]), retape=True)
    numpy.testing.assert_allclose(tape.gradient(numpy.array([-1.0, 3.0])),
                                  fd.grad(f)(numpy.array([-1.0, 3.0])), rtol=1e-15)
    tape = fd.record(stats.poisson.entropy, 5.0)
    assert tape.gradient(5.5) == pytest.approx(fd.grad(stats.poisson.entropy)(5.5), rel=1e-15)
    with pytest.raises(fd.RetapeRequired):
        tape(50.0)


def test_t_with_infinite_df_is_the_normal():
    x, df = numpy.array([1.0, -2.0, 0.5]), numpy.array([numpy.inf, 3.0, numpy.inf])
    for method in METHODS:
        fun = getattr(stats.t, method)
        numpy.testing.assert_allclose(fun(x, df), getattr(scipy_stats.t, method)(x, df),
                                      rtol=1e-14)
        fd.check_grads(lambda x: fun(x, df), x, modes=("fwd", "rev"), order=2)
    numpy.testing.assert_allclose(fd.elementwise_grad(stats.t.cdf)(x, df)[0], stats.norm.pdf(1.0))
