"""fastad.scipy.stats against scipy.stats, with derivatives checked."""
import numpy
import pytest

import fastad as fd
from fastad.scipy import stats

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("name", ["logpdf", "pdf", "cdf"])
def test_norm(name, rng):
    x, loc, scale = rng.standard_normal(4), 0.3, 1.7
    numpy.testing.assert_allclose(getattr(stats.norm, name)(x, loc, scale),
                                  getattr(scipy_stats.norm, name)(x, loc, scale), rtol=1e-13)
    fd.check_grads(lambda x, loc, scale: getattr(stats.norm, name)(x, loc, scale), x, loc, scale)


def test_norm_cdf_far_tail():
    assert stats.norm.cdf(-30.0) > 0.0
    numpy.testing.assert_allclose(stats.norm.cdf(-30.0), scipy_stats.norm.cdf(-30.0), rtol=1e-12)


@pytest.mark.parametrize("shape", [(3,), (5, 3)], ids=str)
def test_multivariate_normal(shape, rng):
    a = rng.standard_normal((3, 3))
    cov, mean, x = a @ a.T + numpy.eye(3), rng.standard_normal(3), rng.standard_normal(shape)
    numpy.testing.assert_allclose(stats.multivariate_normal.logpdf(x, mean, cov),
                                  scipy_stats.multivariate_normal.logpdf(x, mean, cov), rtol=1e-12)
    fd.check_grads(lambda x, mean: stats.multivariate_normal.logpdf(x, mean, cov), x, mean)
    fd.check_grads(lambda c: stats.multivariate_normal.logpdf(x, mean, 0.5 * (c + c.T)), cov,
                   modes=("rev",), order=1)
