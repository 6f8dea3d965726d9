"""Linear algebra: values against numpy.linalg, derivatives against central
differences in both modes to second order, on well-conditioned matrices."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp


@pytest.fixture
def matrix(rng):
    return numpy.eye(3) + 0.3 * rng.standard_normal((3, 3))


@pytest.fixture
def spd(rng):
    a = rng.standard_normal((3, 3))
    return a @ a.T + 3 * numpy.eye(3)


def same_value(fun, reference, *args):
    def f(*xs):
        out = fun(*xs)
        numpy.testing.assert_allclose(fd.core.plain(out), reference(*args), rtol=1e-12)
        return fnp.sum(out)
    fd.grad(f)(*args)


@pytest.mark.parametrize("rhs", [(3,), (3, 2)], ids=str)
def test_solve(matrix, rhs, rng):
    b = rng.standard_normal(rhs)
    same_value(fnp.linalg.solve, numpy.linalg.solve, matrix, b)
    fd.check_grads(fnp.linalg.solve, matrix, b)


def test_solve_batched(rng):
    a = numpy.eye(3) + 0.3 * rng.standard_normal((2, 3, 3))
    b = rng.standard_normal((2, 3, 1))
    fd.check_grads(fnp.linalg.solve, a, b)


def test_slogdet(matrix):
    sign, logdet = fnp.linalg.slogdet(matrix)
    numpy.testing.assert_allclose(logdet, numpy.linalg.slogdet(matrix)[1])
    fd.check_grads(lambda a: fnp.linalg.slogdet(a)[1], matrix)
    g = fd.grad(lambda a: fnp.linalg.slogdet(a)[1])(-matrix)
    numpy.testing.assert_allclose(g, numpy.linalg.inv(-matrix).T, rtol=1e-12)


def test_cholesky(spd):
    same_value(fnp.linalg.cholesky, numpy.linalg.cholesky, spd)
    # a symmetric function of the matrix: numpy reads only one triangle
    fd.check_grads(lambda a: fnp.linalg.cholesky(0.5 * (a + a.T)), spd)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, -1, -2])
def test_matrix_power(matrix, n):
    same_value(lambda a: fnp.linalg.matrix_power(a, n),
               lambda a: numpy.linalg.matrix_power(a, n), matrix)
    if n:
        fd.check_grads(lambda a: fnp.linalg.matrix_power(a, n), matrix)


@pytest.mark.parametrize("ord", [None, 1, 2, 3, numpy.inf, -numpy.inf, 0.5, -1.5])
def test_vector_norm(ord, rng):
    x = rng.standard_normal(5)
    same_value(lambda x: fnp.linalg.norm(x, ord), lambda x: numpy.linalg.norm(x, ord), x)
    fd.check_grads(lambda x: fnp.linalg.norm(x, ord), x)


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, numpy.inf, -numpy.inf])
def test_matrix_norm(ord, matrix):
    same_value(lambda a: fnp.linalg.norm(a, ord), lambda a: numpy.linalg.norm(a, ord), matrix)
    fd.check_grads(lambda a: fnp.linalg.norm(a, ord), matrix)


def test_norm_axis_keepdims(rng):
    x = rng.standard_normal((3, 4))
    same_value(lambda x: fnp.linalg.norm(x, axis=1, keepdims=True),
               lambda x: numpy.linalg.norm(x, axis=1, keepdims=True), x)
    fd.check_grads(lambda x: fnp.linalg.norm(x, axis=0), x)


def test_eigh(spd, rng):
    w, v = fnp.linalg.eigh(spd)
    numpy.testing.assert_allclose(w, numpy.linalg.eigh(spd)[0])
    # numpy reads the lower triangle: the checks differentiate that function
    fd.check_grads(lambda a: fnp.linalg.eigh(a)[0], spd)
    fd.check_grads(lambda a: fnp.linalg.eigh(a)[1], spd)
    # a sign-independent function of the eigenvectors
    fd.check_grads(lambda a: fnp.linalg.eigh(a).eigenvectors ** 2, spd)
    g = fd.grad(lambda a: fnp.sum(fnp.linalg.eigh(0.5 * (a + a.T))[0]))(spd)
    numpy.testing.assert_allclose(g, numpy.eye(3), atol=1e-12)  # d trace / dA = I


@pytest.mark.parametrize("shape", [(3, 3), (4, 3), (3, 4), (2, 3, 3)], ids=str)
def test_svd(shape, rng):
    a = rng.standard_normal(shape)
    same_value(lambda a: fnp.linalg.svd(a, compute_uv=False),
               lambda a: numpy.linalg.svd(a, compute_uv=False), a)
    fd.check_grads(lambda a: fnp.linalg.svd(a, compute_uv=False), a)
    # the factors' signs are LAPACK's: check sign-independent functions of them
    fd.check_grads(lambda a: fnp.linalg.svd(a, full_matrices=False)[0] ** 2, a)
    fd.check_grads(lambda a: fnp.linalg.svd(a, full_matrices=False).Vh ** 2, a)

    def rebuilt(a):
        u, s, vh = fnp.linalg.svd(a, full_matrices=False)
        return fnp.matmul(u * fnp.expand_dims(s, -2), vh)
    same_value(rebuilt, lambda a: a, a)
    g = fd.grad(lambda a: fnp.sum(rebuilt(a) * a))(a)
    numpy.testing.assert_allclose(g, 2 * a, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 2), (2, 4), (2, 4, 3)], ids=str)
def test_svd_full_matrices_of_non_square(shape, rng):
    """NumPy's full factors; the extra columns (a basis of the complement) are
    fixed only up to a rotation, so the check differentiates U D U^T and
    V D V^T with D constant on them, which the rotation leaves alone."""
    a = rng.standard_normal(shape)
    out = fd.make_vjp(lambda a: fnp.linalg.svd(a), 0)(a)[1]
    for got, want in zip(out, numpy.linalg.svd(a)):
        numpy.testing.assert_array_equal(got, want)
    d = numpy.array([1.0, 2.5, 4.0, 4.0][:max(shape[-2:])])

    def rotation_free(a):
        u, s, vh = fnp.linalg.svd(a)
        v = fnp.swapaxes(vh, -1, -2)
        return fnp.matmul(u * d[:u.shape[-1]], fnp.swapaxes(u, -1, -2)), fnp.matmul(
            v * d[:v.shape[-1]], vh) * s[..., :1, None]
    fd.check_grads(rotation_free, a)


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)], ids=str)
def test_pinv(shape, rng):
    a = rng.standard_normal(shape)
    same_value(fnp.linalg.pinv, numpy.linalg.pinv, a)
    fd.check_grads(fnp.linalg.pinv, a)


@pytest.mark.parametrize("shape", [(3, 3), (5, 3), (2, 4, 3), (3, 5), (2, 2, 4)], ids=str)
def test_qr(shape, rng):
    a = rng.standard_normal(shape)
    same_value(lambda a: fnp.linalg.qr(a)[1], lambda a: numpy.linalg.qr(a)[1], a)
    fd.check_grads(lambda a: fnp.linalg.qr(a)[0], a)
    fd.check_grads(lambda a: fnp.linalg.qr(a).R, a)


def test_qr_complete_of_tall_matrix_is_refused(rng):
    with pytest.raises(NotImplementedError, match="complete Q of a tall one is not unique"):
        fd.grad(lambda a: fnp.sum(fnp.linalg.qr(a, "complete")[1]))(rng.standard_normal((4, 2)))
    a = rng.standard_normal((2, 4))  # (of a wide one, it is the reduced Q)
    numpy.testing.assert_array_equal(fd.vjp(lambda a: fnp.linalg.qr(a, "complete")[0], a)[0],
                                     numpy.linalg.qr(a, "complete")[0])
