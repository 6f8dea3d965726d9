"""Two-operand einsum as a (batched) matrix product: values equal
numpy.einsum's to rounding, derivatives against central differences and
against the unlowered contraction, and the keyword arguments of a traced
call."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp
from fastad.ops import products

CASES = [
    ("ijk,mik->mij", (25, 6, 7), (40, 25, 7)),   # the Gaussian mixture's L (x - mu)
    ("ij,jk->ik", (30, 40), (40, 20)),
    ("ij,jk", (30, 40), (40, 20)),                # implicit output
    ("bij,bjk->bik", (4, 20, 30), (4, 30, 10)),
    ("ij,kj->ik", (50, 40), (60, 40)),
    ("i,j->ij", (80,), (70,)),
    ("i,i->", (5000,), (5000,)),
    ("...ij,...jk->...ik", (3, 20, 30), (3, 30, 10)),
    ("kt,tij->kij", (25, 15), (15, 6, 6)),
]


@pytest.fixture
def unlowered():
    previous = products._BLAS_MIN_WORK
    products._BLAS_MIN_WORK = np.iinfo(np.int64).max
    yield
    products._BLAS_MIN_WORK = previous


def _operands(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for shape in shapes]


@pytest.mark.parametrize("subscripts, sa, sb", CASES, ids=[c[0] for c in CASES])
def test_lowered_contractions_equal_einsum_to_rounding(subscripts, sa, sb):
    a, b = _operands([sa, sb])
    assert products._as_matmul(subscripts, a, b) is not None  # (big enough to lower)
    expected = np.einsum(subscripts, a, b)
    value, back = fd.vjp(lambda a, b: fnp.einsum(subscripts, a, b), a, b)
    assert value.shape == expected.shape
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).normal(size=expected.shape)
    ga, gb = back(g)
    for k, (x, gx) in enumerate(((a, ga), (b, gb))):
        t = np.random.default_rng(2 + k).normal(size=x.shape)
        eps = 1e-6
        args = [a, b]
        plus, minus = list(args), list(args)
        plus[k], minus[k] = x + eps * t, x - eps * t
        numeric = np.sum(g * (np.einsum(subscripts, *plus) - np.einsum(subscripts, *minus))) / (2 * eps)
        np.testing.assert_allclose(np.sum(gx * t), numeric, rtol=1e-6)


@pytest.mark.parametrize("subscripts, sa, sb", CASES, ids=[c[0] for c in CASES])
def test_lowered_derivatives_equal_the_einsum_loops(subscripts, sa, sb, request):
    a, b = _operands([sa, sb], seed=3)
    f = lambda a, b: fnp.sum(fnp.sin(fnp.einsum(subscripts, a, b)))  # noqa: E731
    lowered = fd.grad(f, (0, 1))(a, b)
    request.getfixturevalue("unlowered")
    for x, y in zip(lowered, fd.grad(f, (0, 1))(a, b)):
        np.testing.assert_allclose(x, y, rtol=1e-11, atol=1e-11)
    jvp = fd.jvp(lambda a: fnp.einsum(subscripts, a, b), (a,), (np.ones_like(a),))[1]
    np.testing.assert_allclose(jvp, np.einsum(subscripts, np.ones_like(a), b), rtol=1e-12, atol=1e-11)


def test_what_is_not_lowered_stays_einsum():
    a, b = _operands([(30, 30), (30, 40)])
    assert products._as_matmul("ii,ij->ij", a, b) is None       # a repeated index
    assert products._as_matmul("ij,jk->i", a, b) is None        # k summed in b alone
    assert products._as_matmul("ij,jk->ik", a.astype(int), b) is None
    assert products._as_matmul("ij,jk->ik", a[:2, :2], b[:2, :2]) is None  # little work
    x = np.ones((1, 40))
    assert products._as_matmul("ij,ij->ij", x, np.ones((30, 40))) is None  # broadcasting
    g = fd.grad(lambda a: fnp.sum(fnp.einsum("ij,jk->i", a, b)))(a)
    np.testing.assert_allclose(g, np.broadcast_to(b.sum(axis=1), a.shape), rtol=1e-12)


def test_keyword_arguments_of_a_traced_einsum():
    a, b = _operands([(3, 4), (4, 2)])
    f = lambda a, **kw: fnp.sum(fnp.einsum("ij,jk->ik", a, b, **kw))  # noqa: E731
    expected = fd.grad(f)(a)
    for kw in ({"optimize": True}, {"optimize": "greedy"}, {"order": "C"}, {"casting": "safe"},
               {"dtype": None}):
        np.testing.assert_allclose(fd.grad(lambda a: f(a, **kw))(a), expected, rtol=1e-14)
    with pytest.raises(TypeError, match="unexpected keyword argument 'bogus'"):
        fd.grad(lambda a: f(a, bogus=1))(a)
    with pytest.raises(TypeError, match="takes no dtype= or casting="):
        fd.grad(lambda a: f(a, dtype=np.float32))(a)
    with pytest.raises(TypeError, match="takes no dtype= or casting="):
        fd.grad(lambda a: f(a, casting="unsafe"))(a)
