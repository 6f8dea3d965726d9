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
    with pytest.raises(NotImplementedError, match="gammainc is not differentiable with respect to a"):
        fd.grad(lambda a: fs.gammainc(a, 2.0))(1.5)
    with pytest.raises(NotImplementedError, match="order v"):
        fd.grad(lambda v: fs.jv(v, 2.0))(1.5)


def test_log_ndtr_far_in_the_lower_tail():
    g = fd.grad(fs.log_ndtr)(-40.0)
    assert np.isfinite(g) and abs(g - 40.0) < 0.03  # d log Phi(x) ~ -x there
