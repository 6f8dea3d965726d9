"""numpy.linalg functions beyond the core rules (norm orders through the
singular values, the array-API names, lstsq, tensor solves): values equal
NumPy's to rounding, derivatives agree with central differences."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp

L = fnp.linalg
rng = np.random.default_rng(21)


def R(*shape):
    return rng.standard_normal(shape)


def well_conditioned(n):
    a = R(n, n)
    return a @ a.T + n * np.eye(n)


CASES = [
    ("norm 2", lambda x: L.norm(x, 2), (R(4, 3),)),
    ("norm -2", lambda x: L.norm(x, -2), (R(4, 3),)),
    ("norm nuc", lambda x: L.norm(x, "nuc"), (R(3, 4),)),
    ("norm nuc batch", lambda x: L.norm(x, "nuc", axis=(1, 2), keepdims=True), (R(2, 3, 3),)),
    ("vector_norm", lambda x: L.vector_norm(x, ord=3), (R(2, 3),)),
    ("vector_norm axes", lambda x: L.vector_norm(x, axis=(0, 2), keepdims=True), (R(2, 3, 2),)),
    ("matrix_norm", lambda x: L.matrix_norm(x, ord=1), (R(2, 3, 3),)),
    ("cond", L.cond, (well_conditioned(3),)),
    ("cond fro", lambda x: L.cond(x, "fro"), (well_conditioned(3),)),
    ("eigvalsh", lambda a: L.eigvalsh(a + a.T), (R(4, 4),)),
    ("svdvals", L.svdvals, (R(4, 3),)),
    ("multi_dot", lambda a, b: L.multi_dot([a, b, a.T]), (R(3, 2), R(2, 2))),
    ("lstsq", lambda a, b: L.lstsq(a, b, rcond=None)[0], (R(5, 3), R(5))),
    ("tensorinv", lambda a: L.tensorinv(a, ind=1), (R(6, 2, 3) + np.eye(6).reshape(6, 2, 3),)),
    ("tensorsolve", lambda a: L.tensorsolve(a, np.arange(6.0).reshape(2, 3)),
     (R(2, 3, 6) + 3 * np.eye(6).reshape(2, 3, 6),)),
    ("trace", lambda x: L.trace(x, offset=1), (R(2, 3, 3),)),
    ("diagonal", L.diagonal, (R(2, 3, 3),)),
    ("outer", L.outer, (R(3), R(2))),
    ("cross", L.cross, (R(2, 3), R(3))),
    ("vecdot", L.vecdot, (R(2, 3), R(3))),
    ("matmul", L.matmul, (R(2, 3), R(3, 2))),
    ("matrix_transpose", L.matrix_transpose, (R(2, 3, 4),)),
    ("pinv wide", L.pinv, (R(3, 5),)),
    ("pinv tall stacked", L.pinv, (R(2, 5, 3),)),
    ("pinv rcond", lambda x: L.pinv(x, rcond=1e-10), (R(4, 3),)),
    # pinv of a rank-deficient matrix (central differences move A, so A^T A
    # keeps rank 5): the derivative was V diag(1/s) U^T's, 1e15 off
    ("pinv rank-deficient", lambda a: L.pinv(fnp.swapaxes(a, -1, -2) @ a), (R(5, 6),)),
    ("pinv rank-deficient stacked", lambda a: L.pinv(fnp.swapaxes(a, -1, -2) @ a), (R(2, 3, 5),)),
    ("pinv hermitian", lambda a: L.pinv(a.T @ a, hermitian=True), (R(5, 3),)),
    # eigh(a, UPLO='U') raised NotImplementedError
    ("eigh upper values", lambda a: L.eigh(a, "U")[0], (R(4, 4),)),
    ("eigh upper vectors", lambda a: fnp.abs(L.eigh(a, UPLO="U").eigenvectors), (R(2, 4, 4),)),
    ("eigvalsh upper", lambda a: L.eigvalsh(a, "U"), (R(5, 5),)),
    # norm of a list of traced values reached NumPy, which refused it
    ("norm of a list", lambda x: L.norm([x[0], x[1] + 2.0]), (R(2),)),
]


@pytest.mark.parametrize("name, fun, args", CASES, ids=[c[0] for c in CASES])
def test_values_and_derivatives(name, fun, args):
    value = fd.make_vjp(fun, tuple(range(len(args))))(*args)[1]
    np.testing.assert_allclose(value, fun(*args), rtol=1e-12, atol=1e-14)
    fd.check_grads(fun, *args, modes=("fwd", "rev"), order=2)


def test_matrix_two_norm_gradient_is_the_top_singular_pair():
    a = R(4, 3)
    u, s, vh = np.linalg.svd(a)
    np.testing.assert_allclose(fd.grad(lambda a: L.norm(a, 2))(a), np.outer(u[:, 0], vh[0]),
                               rtol=1e-12, atol=1e-14)


def test_bad_matrix_norm_order():
    with pytest.raises(ValueError, match="Invalid norm order"):
        fd.grad(lambda a: L.norm(a, 3))(R(3, 3))


def test_pinv_of_a_rank_deficient_matrix_against_central_differences():
    """The VJP and JVP of pinv at a rank-5 6x6 matrix A^T A (A 5x6), in a
    direction that keeps the rank: <u, J v> agrees with central differences
    (fastad gave 5.8e15 and 8.4e15 for -16.94 here; the value was 6.8e14
    off NumPy's), and with autograd's formula."""
    rng = np.random.RandomState(0)
    a, u, v = rng.randn(5, 6), rng.randn(6, 6), rng.randn(5, 6)
    f = lambda a: L.pinv(fnp.swapaxes(a, -1, -2) @ a)  # noqa: E731
    plain = lambda a: np.linalg.pinv(a.T @ a)  # noqa: E731
    vjp, out = fd.make_vjp(f)(a)
    np.testing.assert_array_equal(out, plain(a))
    eps = 1e-6
    numeric = np.sum(u * (plain(a + eps / 2 * v) - plain(a - eps / 2 * v)) / eps)
    np.testing.assert_allclose(np.sum(vjp(u) * v), numeric, rtol=1e-7)
    np.testing.assert_allclose(np.sum(u * fd.make_jvp(f)(a)(v)[1]), numeric, rtol=1e-7)
    # autograd's rule (autograd/numpy/linalg.py, grad_pinv), at the matrix itself
    x = a.T @ a
    p = np.linalg.pinv(x)
    autograd_rule = (-p @ u.T @ p + p @ p.T @ u @ (np.eye(6) - x @ p)
                     + (np.eye(6) - p @ x) @ u @ p.T @ p).T
    np.testing.assert_allclose(fd.make_vjp(L.pinv)(x)[0](u), autograd_rule, rtol=1e-8, atol=1e-10)


# (no zero entries: where a[2, 0] = 0 LAPACK's eigenvector signs jump with its sign)
_PAIR = np.array([[0.1, -2.0, 0.3], [1.0, 0.5, 0.1], [0.2, 0.1, 1.5]])  # 0.3 +- 1.4i, 1.5
_REAL = np.array([[1.0, 0.2, 0.1], [0.1, 2.0, 0.3], [0.05, 0.2, 3.5]])  # about 1, 2, 3.5


@pytest.mark.parametrize("a", [_PAIR, _REAL, np.stack([_REAL, _PAIR])],
                         ids=["complex pair", "real spectrum", "batch"])
def test_eig_of_real_input(a):
    """NumPy's values and dtypes (real where every eigenvalue is real), and
    derivatives of the eigenvalues' parts and of the (LAPACK-normalized)
    eigenvectors' real and imaginary parts against central differences."""
    w, v = np.linalg.eig(a)
    out = fd.make_vjp(lambda a: L.eig(a), 0)(a)[1]
    for got, want in zip(out, (w, v)):
        np.testing.assert_array_equal(got, want)
        assert got.dtype == want.dtype
    np.testing.assert_array_equal(fd.make_vjp(L.eigvals)(a)[1], np.linalg.eigvals(a))
    fd.check_grads(lambda a: fnp.real(L.eig(a)[0]) + fnp.imag(L.eig(a)[0]) ** 2, a, order=2)
    fd.check_grads(lambda a: fnp.real(L.eig(a)[1]) - fnp.imag(L.eig(a)[1]), a, order=1)
    fd.check_grads(lambda a: fnp.imag(L.eigvals(a)) ** 2, a, order=1)


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)], ids=str)
def test_hermitian_svd_and_eigvalsh_have_numpy_s_values(shape):
    """svd(a, hermitian=True) is NumPy's (from eigh: |w| in descending order, Vh
    carrying the signs), not the general SVD's factors; eigvalsh NumPy's to the
    last bit.  Both read the lower triangle, as NumPy's do."""
    a = R(*shape)
    out = fd.make_vjp(lambda a: L.svd(a, hermitian=True), 0)(a)[1]
    for got, want in zip(out, np.linalg.svd(a, hermitian=True)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(fd.make_vjp(L.eigvalsh)(a)[1], np.linalg.eigvalsh(a))
    np.testing.assert_array_equal(
        fd.make_vjp(lambda a: L.svd(a, compute_uv=False, hermitian=True))(a)[1],
        np.linalg.svd(a, compute_uv=False, hermitian=True))
    fd.check_grads(lambda a: L.svd(a, compute_uv=False, hermitian=True), a, order=2)
    fd.check_grads(lambda a: (lambda u, s, vh: u * s[..., None, :] @ vh)(
        *L.svd(a, hermitian=True)), a, order=1)
    fd.check_grads(lambda a: L.pinv(a, hermitian=True), a, order=1)
