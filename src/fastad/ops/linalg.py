"""Linear algebra with the matrix-calculus rules, batched over leading axes
as numpy.linalg is."""
from collections import namedtuple

import numpy as np

from . import defprim, numpy_versions
from .elementwise import add, conjugate, imag, is_complex, multiply, negative, real
from .products import matmul
from .reductions import sum
from .shape import expand_dims, moveaxis, reshape, swapaxes, normalize_axis_tuple
from .sorting import count_nonzero
from .tracing import asarray


# numpy.linalg's results, named as NumPy names them (namedtuples: pytrees too)
_SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])
_EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
_EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])
_SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
_QRResult = namedtuple("QRResult", ["Q", "R"])


def _mT(x):
    return swapaxes(x, -1, -2)


def _H(x):
    """The conjugate transpose of a batch of matrices (the transpose of real ones)."""
    return conjugate(swapaxes(x, -1, -2))


def _i_im_diagonal(x):
    """i Im diag(x), a (batch of) diagonal matrices: the phase terms of complex rules."""
    return multiply(multiply(imag(x), np.eye(np.shape(x)[-1])), 1j)


def _inv_vjp(g, ans, x):
    # d X^-1 = -X^-1 dX X^-1  =>  X_bar = -X^-T G X^-T
    return negative(matmul(_mT(ans), matmul(g, _mT(ans))))


def _inv_jvp(t, ans, x):
    return negative(matmul(ans, matmul(t, ans)))


inv = defprim("inv", np.linalg.inv, vjps=[_inv_vjp], jvps=[_inv_jvp])


def _expand_matrix(v):
    """A batch of scalars as a batch of 1x1 matrices, to scale matrices."""
    return expand_dims(expand_dims(v, -1), -1)


def _det_vjp(g, ans, x):
    # d det X = det X <X^-T, dX>
    return multiply(_expand_matrix(multiply(g, ans)), _mT(inv(x)))


def _det_jvp(t, ans, x):
    return multiply(ans, sum(multiply(_mT(inv(x)), t), axis=(-2, -1)))


det = defprim("det", np.linalg.det, vjps=[_det_vjp], jvps=[_det_jvp])


# -- solve -------------------------------------------------------------------------

def _as_matrix_rhs(a, b):
    """numpy.linalg.solve treats b as a vector only when it is 1-D."""
    return np.ndim(b) == 1


def _solve_vjp_b(g, ans, a, b):
    # x = A^-1 b  =>  b_bar = A^-T x_bar
    return solve(_mT(a), g)


def _solve_vjp_a(g, ans, a, b):
    # A_bar = -A^-T x_bar x^T
    b_bar = solve(_mT(a), g)
    if _as_matrix_rhs(a, b):
        return negative(multiply(expand_dims(b_bar, -1), expand_dims(ans, -2)))
    return negative(matmul(b_bar, _mT(ans)))


def _solve_jvp_a(t, ans, a, b):
    # dx = -A^-1 dA x
    return negative(solve(a, matmul(t, ans)))


solve = defprim("solve", np.linalg.solve, vjps=[_solve_vjp_a, _solve_vjp_b],
                jvps=[_solve_jvp_a, lambda t, ans, a, b: solve(a, t)])


# -- log |det| and slogdet ----------------------------------------------------------

def _logabsdet_fun(x):
    return np.linalg.slogdet(x)[1]


def _logabsdet_vjp(g, ans, x):
    # d log|det X| = Re <X^-T, dX> (the real part of d log det X, for complex X)
    return multiply(_expand_matrix(g), _mT(inv(x)))


def _logabsdet_jvp(t, ans, x):
    return real(sum(multiply(_mT(inv(x)), t), axis=(-2, -1)))


logabsdet = defprim("logabsdet", _logabsdet_fun, vjps=[_logabsdet_vjp], jvps=[_logabsdet_jvp])


def _sign_of_det(a):
    return np.sign(np.linalg.det(a))


# (a primitive, so that recorded tapes guard the sign)
_slogdet_sign = defprim("sign of slogdet", _sign_of_det)


# The sign of a complex determinant, det / |det|, moves with the matrix:
# d sign = i Im(d log det) sign = i Im <X^-T, dX> sign (JAX's _slogdet_jvp),
# whose transpose gives X_bar = i Im(g sign) X^-T.

def _complex_sign_vjp(g, ans, x):
    return multiply(_expand_matrix(multiply(imag(multiply(g, ans)), 1j)), _mT(inv(x)))


def _complex_sign_jvp(t, ans, x):
    return multiply(multiply(imag(sum(multiply(_mT(inv(x)), t), axis=(-2, -1))), 1j), ans)


_complex_slogdet_sign = defprim("sign of complex slogdet", lambda x: np.linalg.slogdet(x)[0],
                                vjps=[_complex_sign_vjp], jvps=[_complex_sign_jvp])


def slogdet(a):
    """numpy.linalg.slogdet: (sign, log|det a|), both differentiable for
    complex a; for real a the sign is piecewise constant."""
    if not hasattr(a, "tape"):
        return np.linalg.slogdet(a)
    sign = _complex_slogdet_sign(a) if is_complex(a) else _slogdet_sign(a)
    return _SlogdetResult(sign, logabsdet(a))


# -- cholesky ------------------------------------------------------------------------

def _phi(x):
    """The lower triangle with the diagonal halved."""
    n = np.shape(x)[-1]
    return multiply(x, np.tril(np.ones((n, n))) - 0.5 * np.eye(n))


# A = L L^H.  As JAX's cholesky, the rules are those of cholesky((A + A^H) / 2),
# a function of the whole matrix (NumPy reads the lower triangle): with
# phi the lower triangle with the diagonal halved (Murray 2016, arXiv:1602.07527),
#   dL = L phi(L^-1 sym(dA) L^-H),
# and its transpose S = L^-T phi(L^T L_bar) conj(L)^-1, A_bar = (S + S^H) / 2.

def _hermitian_part(x):
    return multiply(add(x, _H(x)), 0.5)


def _cholesky_vjp(g, ans, a):
    inner = _phi(matmul(_mT(ans), g))
    s = _mT(solve(_H(ans), _mT(solve(_mT(ans), inner))))
    return _hermitian_part(s)


def _cholesky_jvp(t, ans, a):
    l_inv_t = solve(ans, _hermitian_part(t))
    return matmul(ans, _phi(solve(ans, _H(l_inv_t))))


cholesky = defprim("cholesky", np.linalg.cholesky, vjps=[_cholesky_vjp], jvps=[_cholesky_jvp])


# -- powers and norms (compositions) ---------------------------------------------------

def matrix_power(a, n):
    """numpy.linalg.matrix_power, by repeated squaring (negative n: of the inverse)."""
    if not hasattr(a, "tape"):
        return np.linalg.matrix_power(a, n)
    if n < 0:
        a, n = inv(a), -n
    result = None
    base = a
    while n:
        if n & 1:
            result = base if result is None else matmul(result, base)
        n >>= 1
        if n:
            base = matmul(base, base)
    if result is None:
        return np.broadcast_to(np.eye(np.shape(a)[-1], dtype=a.dtype), np.shape(a)).copy()
    return result


def _squared_modulus(x):
    """|x|^2 elementwise: x x of reals, Re(conj(x) x) of complex numbers (real,
    so that its rule is the gradient 2 conj(x) of autograd's and JAX's convention)."""
    if is_complex(x):
        return real(multiply(conjugate(x), x))
    return multiply(x, x)


def _real_dtype(x):
    return np.empty(0, x.dtype).real.dtype


def norm(x, ord=None, axis=None, keepdims=False):
    """numpy.linalg.norm for vectors (any ord) and matrices (any ord), real or
    complex: |x| by abs (its complex rule), |x|^2 as Re(conj(x) x)."""
    from . import elementwise as el
    from .reductions import max as rmax, min as rmin
    if type(x) is list or type(x) is tuple:
        x = asarray(x)  # (a list of traced values: NumPy would refuse it)
    if not hasattr(x, "tape"):
        return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    ndim = np.ndim(x)
    if axis is not None:
        normalize_axis_tuple(axis, ndim)  # (NumPy's AxisError, 0-d arrays included)
    if axis is None and (ord is None or ndim == 1 or ord == "fro"):
        if ord is None or ord == "fro" or ord == 2 and ndim == 1:
            return el.sqrt(sum(_squared_modulus(x), axis=None, keepdims=keepdims))
    if axis is None:
        axis = tuple(range(ndim)) if ndim == 2 else 0
    if isinstance(axis, int) or (isinstance(axis, tuple) and len(axis) == 1):
        axis = axis if isinstance(axis, int) else axis[0]
        if ord is None or ord == 2:
            return el.sqrt(sum(_squared_modulus(x), axis=axis, keepdims=keepdims))
        if ord == np.inf:
            return rmax(el.absolute(x), axis=axis, keepdims=keepdims)
        if ord == -np.inf:
            return rmin(el.absolute(x), axis=axis, keepdims=keepdims)
        if ord == 0:
            # (the count_nonzero primitive, so that recorded tapes guard the count)
            # (of a real dtype for complex x, as NumPy's)
            return count_nonzero(x, axis=axis, keepdims=keepdims).astype(_real_dtype(x))
        if ord == 1:
            return sum(el.absolute(x), axis=axis, keepdims=keepdims)
        p = float(ord)
        return el.power(sum(el.power(el.absolute(x), p), axis=axis, keepdims=keepdims), 1.0 / p)
    row, col = axis
    if ord in (None, "fro"):
        return el.sqrt(sum(_squared_modulus(x), axis=axis, keepdims=keepdims))
    if ord in (1, -1):
        sums = sum(el.absolute(x), axis=row, keepdims=True)
        pick = rmax if ord == 1 else rmin
        return pick(sums, axis=col, keepdims=True) if keepdims else \
            pick(sum(el.absolute(x), axis=row, keepdims=False), axis=col - (col > row))
    if ord in (np.inf, -np.inf):
        pick = rmax if ord == np.inf else rmin
        sums = sum(el.absolute(x), axis=col, keepdims=keepdims)
        return pick(sums, axis=row, keepdims=keepdims)
    if ord in (2, -2, "nuc"):
        # the singular values (distinct and nonzero where this is differentiable)
        s = singular_values(moveaxis(x, (row, col), (-2, -1)))
        out = rmax(s, axis=-1) if ord == 2 else rmin(s, axis=-1) if ord == -2 else sum(s, axis=-1)
        if keepdims:
            shape = list(np.shape(x))
            shape[row] = shape[col] = 1
            out = reshape(out, tuple(shape))
        return out
    raise ValueError("Invalid norm order %r for matrices." % (ord,))


def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """numpy.linalg.vector_norm"""
    if not hasattr(x, "tape"):
        return numpy_versions.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
    if axis is None:
        out = norm(reshape(x, (-1,)), ord=ord)
        return reshape(out, (1,) * np.ndim(x)) if keepdims else out
    if isinstance(axis, tuple) and len(axis) > 1:
        ndim = np.ndim(x)
        axes = normalize_axis_tuple(axis, ndim)
        moved = moveaxis(x, axes, tuple(range(ndim - len(axes), ndim)))
        flat = reshape(moved, np.shape(moved)[:ndim - len(axes)] + (-1,))
        out = norm(flat, ord=ord, axis=-1)
        if keepdims:
            shape = [1 if k in axes else n for k, n in enumerate(np.shape(x))]
            out = reshape(out, tuple(shape))
        return out
    return norm(x, ord=ord, axis=axis, keepdims=keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """numpy.linalg.matrix_norm (over the last two axes)"""
    if not hasattr(x, "tape"):
        return numpy_versions.matrix_norm(x, keepdims=keepdims, ord=ord)
    ndim = np.ndim(x)
    return norm(x, ord=ord, axis=(ndim - 2, ndim - 1), keepdims=keepdims)


def cond(x, p=None):
    """numpy.linalg.cond: s_max / s_min for p None or +-2, else
    norm(x, p) norm(inv(x), p)."""
    if not hasattr(x, "tape"):
        return np.linalg.cond(x, p)
    from . import elementwise as el
    from .reductions import max as rmax, min as rmin
    if p in (None, 2, -2):
        s = singular_values(x)
        big, small = rmax(s, axis=-1), rmin(s, axis=-1)
        return el.true_divide(small, big) if p == -2 else el.true_divide(big, small)
    ndim = np.ndim(x)
    axes = (ndim - 2, ndim - 1)
    return multiply(norm(x, p, axes), norm(inv(x), p, axes))


def eigvalsh(a, UPLO="L"):
    """numpy.linalg.eigvalsh (its values to the last bit: LAPACK's routine
    without eigenvectors), with eigh's rules."""
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    if not hasattr(a, "tape"):
        return np.linalg.eigvalsh(a, UPLO)
    return _eigvalsh(a) if UPLO == "L" else _eigvalsh(a, UPLO)


def svdvals(x, /):
    if not hasattr(x, "tape"):
        return numpy_versions.svdvals(x)
    return singular_values(x)


def multi_dot(arrays, *, out=None):
    """numpy.linalg.multi_dot, left to right (NumPy picks the cheapest
    order; the values agree to rounding)."""
    if not any(hasattr(a, "tape") for a in arrays):
        return np.linalg.multi_dot(arrays, out=out)
    from .products import dot
    result = arrays[0]
    for a in arrays[1:]:
        result = dot(result, a)
    return result


def lstsq(a, b, rcond=None):
    """numpy.linalg.lstsq of a full-rank matrix: (x, residuals, rank, s),
    x = pinv(a) b differentiable in a and b; the others plain."""
    if not (hasattr(a, "tape") or hasattr(b, "tape")):
        return np.linalg.lstsq(a, b, rcond=rcond)
    plain = np.linalg.lstsq(getattr(a, "value", a), getattr(b, "value", b), rcond=rcond)
    solution = matmul(pinv(a) if hasattr(a, "tape") else np.linalg.pinv(a), b)
    return solution, plain[1], plain[2], plain[3]


def tensorinv(a, ind=2):
    if not hasattr(a, "tape"):
        return np.linalg.tensorinv(a, ind)
    shape = np.shape(a)
    rows = int(np.prod(shape[:ind]))
    return reshape(inv(reshape(a, (rows, -1))), shape[ind:] + shape[:ind])


def tensorsolve(a, b, axes=None):
    if not (hasattr(a, "tape") or hasattr(b, "tape")):
        return np.linalg.tensorsolve(a, b, axes)
    if axes is not None:
        ndim = np.ndim(a)
        axes = list(normalize_axis_tuple(axes, ndim))
        a = moveaxis(a, axes, list(range(ndim - len(axes), ndim)))
    q_shape = np.shape(a)[np.ndim(b):]
    n = int(np.prod(q_shape))
    return reshape(solve(reshape(a, (-1, n)), reshape(b, (-1,))), q_shape)


# numpy.linalg's array-API names of functions fastad.numpy has
def trace(x, /, *, offset=0, dtype=None):
    from .indexing import trace as _trace
    return _trace(x, offset, -2, -1, dtype)


def diagonal(x, /, *, offset=0):
    from .indexing import diagonal as _diagonal
    return _diagonal(x, offset, -2, -1)


def outer(x1, x2, /):
    from .products import outer as _outer
    return _outer(x1, x2)


def cross(x1, x2, /, *, axis=-1):
    from .products import cross as _cross
    return _cross(x1, x2, axis=axis)


def vecdot(x1, x2, /, *, axis=-1):
    from .products import vecdot as _vecdot
    return _vecdot(x1, x2, axis=axis)


def matrix_transpose(x, /):
    from .manipulation import matrix_transpose as _matrix_transpose
    return _matrix_transpose(x)


# -- eigh: symmetric or Hermitian eigendecomposition, distinct eigenvalues -------------
#
# numpy.linalg.eigh reads one triangle: with UPLO='L' it is a function of
# S = tril(A, -1) + tril(A, -1)^H + Re diag(A) (LAPACK ignores the imaginary
# parts of the diagonal).  For a cotangent M of S, the cotangent of A is
# tril(M + M^H, -1) + Re diag(M) (triu for UPLO='U').  With F_ij = 1 / (w_j - w_i)
# off the diagonal (JAX's eigh_jvp_rule):
#   dw = Re diag(V^H dS V),  dV = V (F o (V^H dS V)),
# whose transposes are M = conj(V) diag(w_bar) V^T and conj(V) (F o V^T V_bar) V^T
# (autograd's grad_eigh).  For complex A each eigenvector is fixed only up to a
# phase: dV takes the gauge where V^H dV has a zero diagonal, JAX's and
# autograd's, so only functions the phases leave alone (|V|, V f(w) V^H) have the
# derivatives of NumPy's eigenvectors.

def _strict_triangle(n, UPLO):
    return np.tril(np.ones((n, n)), -1) if UPLO == "L" else np.triu(np.ones((n, n)), 1)


def _from_symmetric(m, UPLO):
    n = np.shape(m)[-1]
    return add(multiply(add(m, _H(m)), _strict_triangle(n, UPLO)), multiply(real(m), np.eye(n)))


def _symmetric_tangent(t, UPLO):
    n = np.shape(t)[-1]
    triangle = multiply(t, _strict_triangle(n, UPLO))
    return add(add(triangle, _H(triangle)), multiply(real(t), np.eye(n)))


def _eigen_gaps(w):
    """F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it."""
    n = np.shape(w)[-1]
    off = 1.0 - np.eye(n)
    diff = add(expand_dims(w, -2), negative(expand_dims(w, -1)))
    return multiply(off, 1.0 / add(diff, np.eye(n)))


def _eigenvalues_vjp(g, ans, x, UPLO="L"):
    v = eigenvectors(x, UPLO)
    return _from_symmetric(matmul(multiply(conjugate(v), expand_dims(g, -2)), _mT(v)), UPLO)


def _eigenvalues_jvp(t, ans, x, UPLO="L"):
    v = eigenvectors(x, UPLO)
    ds = _symmetric_tangent(t, UPLO)
    return real(sum(multiply(conjugate(v), matmul(ds, v)), axis=-2))


def _eigenvectors_vjp(g, ans, x, UPLO="L"):
    w = eigenvalues(x, UPLO)
    inner = multiply(_eigen_gaps(w), matmul(_mT(ans), g))
    return _from_symmetric(matmul(matmul(conjugate(ans), inner), _mT(ans)), UPLO)


def _eigenvectors_jvp(t, ans, x, UPLO="L"):
    w = eigenvalues(x, UPLO)
    ds = _symmetric_tangent(t, UPLO)
    return matmul(ans, multiply(_eigen_gaps(w), matmul(_H(ans), matmul(ds, ans))))


eigenvalues = defprim("eigh_values", lambda x, UPLO="L": np.linalg.eigh(x, UPLO)[0],
                      vjps=[_eigenvalues_vjp, None], jvps=[_eigenvalues_jvp, None])
eigenvectors = defprim("eigh_vectors", lambda x, UPLO="L": np.linalg.eigh(x, UPLO)[1],
                       vjps=[_eigenvectors_vjp, None], jvps=[_eigenvectors_jvp, None])
_eigvalsh = defprim("eigvalsh", lambda x, UPLO="L": np.linalg.eigvalsh(x, UPLO),
                    vjps=[_eigenvalues_vjp, None], jvps=[_eigenvalues_jvp, None])


def eigh(a, UPLO="L"):
    """numpy.linalg.eigh of a real symmetric or complex Hermitian matrix with
    distinct eigenvalues: (eigenvalues, eigenvectors).  Only the triangle UPLO
    names is read, as NumPy reads it; the eigenvectors' signs (phases) are
    LAPACK's."""
    if UPLO not in ("L", "U"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    if not hasattr(a, "tape"):
        return np.linalg.eigh(a, UPLO)
    if UPLO == "L":  # (the argument recorded only where it matters)
        return _EighResult(eigenvalues(a), eigenvectors(a))
    return _EighResult(eigenvalues(a, UPLO), eigenvectors(a, UPLO))


# -- eig: general eigendecomposition, distinct eigenvalues ------------------------------
#
# A V = V diag(w), w and V complex (real when NumPy finds every eigenvalue of a
# real A real).  With P = V^-1 dA V and F_ij = 1 / (w_j - w_i) off the diagonal
# (JAX's eig_jvp_rule):
#   dw = diag(P),  dV = U + V diag(c),  U = V (F o P),
# where c keeps each column as LAPACK normalizes it (unit 2-norm, its largest
# component k_j real):  c_j = -Re(v_j^H u_j) - i Im(u_kj) / v_kj.  Since that
# fixes the phases, V itself (not only |V|) has the derivative of NumPy's.
# The transpose: with c_bar_j = sum_i v_ij V_bar_ij,
#   U_bar = V_bar - conj(V) Re(c_bar) - i E Im(c_bar) / v_k   (E: ones at the rows k_j)
#   A_bar = V^-T (diag(w_bar) + F o (V^T U_bar)) V^T,
# and its real part for a real A.

def _real_for_real(out, x):
    return out if is_complex(x) else real(out)


def _largest_rows(v):
    """Ones at each column's largest component (LAPACK's real one), and that component."""
    from .elementwise import absolute
    from .sorting import argmax
    n = np.shape(v)[-2]
    rows = argmax(absolute(v), axis=-2)  # (a primitive: recorded tapes guard the rows)
    mask = (np.arange(n)[:, None] == np.expand_dims(rows, -2)).astype(float)
    return mask, real(sum(multiply(mask, v), axis=-2))


def _eig_general_gaps(w):
    n = np.shape(w)[-1]
    diff = add(expand_dims(w, -2), negative(expand_dims(w, -1)))
    return add(1.0 / add(diff, np.eye(n)), -np.eye(n))


def _eig_values_vjp(g, ans, x):
    v = eig_vectors(x)
    return _real_for_real(solve(_mT(v), multiply(expand_dims(g, -1), _mT(v))), x)


def _eig_values_jvp(t, ans, x):
    v = eig_vectors(x)
    return sum(multiply(solve(v, t), _mT(v)), axis=-1)


def _eig_vectors_vjp(g, ans, x):
    v, w = ans, eig_values(x)
    c_bar = sum(multiply(v, g), axis=-2)
    u_bar = add(g, negative(multiply(conjugate(v), expand_dims(real(c_bar), -2))))
    if is_complex(v):
        mask, largest = _largest_rows(v)
        u_bar = add(u_bar, multiply(mask, expand_dims(multiply(imag(c_bar), -1j / largest), -2)))
    p_bar = multiply(_eig_general_gaps(w), matmul(_mT(v), u_bar))
    return _real_for_real(solve(_mT(v), matmul(p_bar, _mT(v))), x)


def _eig_vectors_jvp(t, ans, x):
    v, w = ans, eig_values(x)
    u = matmul(v, multiply(_eig_general_gaps(w), solve(v, matmul(t, v))))
    c = negative(real(sum(multiply(conjugate(v), u), axis=-2)))
    if is_complex(v):
        mask, largest = _largest_rows(v)
        c = add(c, multiply(imag(sum(multiply(mask, u), axis=-2)), -1j / largest))
    return add(u, multiply(v, expand_dims(c, -2)))


eig_values = defprim("eig_values", lambda x: np.linalg.eig(x)[0],
                     vjps=[_eig_values_vjp], jvps=[_eig_values_jvp])
eig_vectors = defprim("eig_vectors", lambda x: np.linalg.eig(x)[1],
                      vjps=[_eig_vectors_vjp], jvps=[_eig_vectors_jvp])
# (NumPy's eigvals: its values to the last bit; the rules read eig's vectors)
_eigvals = defprim("eigvals", np.linalg.eigvals, vjps=[_eig_values_vjp], jvps=[_eig_values_jvp])


def eig(a):
    """numpy.linalg.eig of a square matrix with distinct eigenvalues:
    (eigenvalues, eigenvectors), complex, or real where NumPy finds every
    eigenvalue of a real matrix real; the eigenvectors normalized as LAPACK
    does (unit norm, largest component real), which the derivatives follow."""
    if not hasattr(a, "tape"):
        return np.linalg.eig(a)
    return _EigResult(eig_values(a), eig_vectors(a))


def eigvals(a):
    """numpy.linalg.eigvals of a square matrix with distinct eigenvalues."""
    if not hasattr(a, "tape"):
        return np.linalg.eigvals(a)
    return _eigvals(a)


# -- svd: distinct singular values, reduced (full_matrices=False) ---------------------
#
# A = U diag(s) V^H.  With F_ij = 1 / (s_j^2 - s_i^2) off the diagonal and
# P = U^H dA V (JAX's svd_jvp_rule):
#   ds = Re diag(P)
#   dU = U (F o (P S + S P^H) + i Im diag(P) S^-1) + (I - U U^H) dA V S^-1
#   dV = V (F o (S P + P^H S)) + (I - V V^H) dA^H U S^-1
# and the VJPs are their transposes (Townsend 2016, as autograd's grad_svd has
# them).  For complex A each pair (u_j, v_j) is fixed only up to a common phase:
# these rules take the gauge where V^H dV has a zero diagonal, JAX's and
# autograd's, so only functions the phases leave alone (|U|, U f(S) V^H, the
# singular values) have the derivatives of NumPy's factors.

def _svd_parts(x):
    return svd_u(x), singular_values(x), svd_v(x)


def _gaps(s):
    k = np.shape(s)[-1]
    eye = np.eye(k)
    s2 = multiply(s, s)
    return multiply(1.0 - eye, 1.0 / add(add(expand_dims(s2, -2), negative(expand_dims(s2, -1))),
                                          eye))


def _imaginary_diagonal(p, s_row):
    """i Im diag(p) S^-1: the phase term of dU (and of its transpose)."""
    return multiply(_i_im_diagonal(p), 1.0 / s_row)


def _svd_vjp(gu, gs, gv, x):
    """The cotangent of A from those of U, s, V (any may be None)."""
    u, s, v = _svd_parts(x)
    m, n = np.shape(x)[-2:]
    k = min(m, n)
    eye = np.eye(k)
    s_row, s_col = expand_dims(s, -2), expand_dims(s, -1)
    inner = 0.0
    if gs is not None:
        inner = multiply(eye, expand_dims(gs, -1))
    if gu is not None:
        utgu = matmul(_mT(u), gu)
        inner = add(inner, multiply(multiply(_gaps(s), add(utgu, negative(_H(utgu)))), s_row))
        if is_complex(u):
            inner = add(inner, _imaginary_diagonal(utgu, s_row))
    if gv is not None:
        vtgv = matmul(_mT(v), gv)
        inner = add(inner, multiply(s_col, multiply(_gaps(s), add(vtgv, negative(_H(vtgv))))))
    out = matmul(matmul(conjugate(u), inner), _mT(v)) if not isinstance(inner, float) else 0.0
    if gu is not None and m > n:
        proj = add(np.eye(m), negative(matmul(u, _H(u))))              # I - U U^H
        out = add(out, _mT(matmul(matmul(multiply(v, 1.0 / s_row), _mT(gu)), proj)))
    if gv is not None and m < n:
        proj = add(np.eye(n), negative(matmul(v, _H(v))))              # I - V V^H
        out = add(out, conjugate(matmul(matmul(multiply(u, 1.0 / s_row), _mT(gv)), proj)))
    return out


def _svd_jvp_parts(t, x):
    u, s, v = _svd_parts(x)
    m, n = np.shape(x)[-2:]
    dp = matmul(matmul(_H(u), t), v)                      # U^H dA V  (k x k)
    ds = real(sum(multiply(dp, np.eye(min(m, n))), axis=-1))
    s_row, s_col = expand_dims(s, -2), expand_dims(s, -1)
    gaps = _gaps(s)
    du = matmul(u, multiply(gaps, add(multiply(dp, s_row), multiply(s_col, _H(dp)))))
    if is_complex(dp):
        du = add(du, matmul(u, _imaginary_diagonal(dp, s_row)))
    dv = matmul(v, multiply(gaps, add(multiply(s_col, dp), multiply(_H(dp), s_row))))
    if m > n:
        proj = add(np.eye(m), negative(matmul(u, _H(u))))
        du = add(du, matmul(matmul(proj, t), multiply(v, 1.0 / s_row)))
    if m < n:
        proj = add(np.eye(n), negative(matmul(v, _H(v))))
        dv = add(dv, matmul(matmul(proj, _H(t)), multiply(u, 1.0 / s_row)))
    return du, ds, dv


singular_values = defprim(
    "svd_values", lambda x: np.linalg.svd(x, compute_uv=False),
    vjps=[lambda g, ans, x: _svd_vjp(None, g, None, x)],
    jvps=[lambda t, ans, x: _svd_jvp_parts(t, x)[1]])
# (the singular values of the call computing U and V: NumPy's svd(a)[1] to the bit, where
# compute_uv=False's may differ in the last place)
svd_s = defprim(
    "svd_s", lambda x: np.linalg.svd(x, full_matrices=False)[1],
    vjps=[lambda g, ans, x: _svd_vjp(None, g, None, x)],
    jvps=[lambda t, ans, x: _svd_jvp_parts(t, x)[1]])
svd_u = defprim(
    "svd_u", lambda x: np.linalg.svd(x, full_matrices=False)[0],
    vjps=[lambda g, ans, x: _svd_vjp(g, None, None, x)],
    jvps=[lambda t, ans, x: _svd_jvp_parts(t, x)[0]])
# V = Vh^H (the conjugate transpose of NumPy's third factor)
svd_v = defprim(
    "svd_v", lambda x: np.conjugate(np.swapaxes(np.linalg.svd(x, full_matrices=False)[2], -1, -2)),
    vjps=[lambda g, ans, x: _svd_vjp(None, None, g, x)],
    jvps=[lambda t, ans, x: _svd_jvp_parts(t, x)[2]])


# full_matrices=True of an m x n matrix, m > n: U = [U1 U2], U1 the reduced U and U2 a
# basis of the rest, fixed only up to a unitary mixing of its columns.  The rules take the
# gauge U2^H dU2 = 0, so orthogonality to U1 (U1^H dU2 = -dU1^H U2) gives
#   dU2 = -U1 S^-1 V^H dA^H U2,  and its transpose A_bar = -conj(U2 G2^T U1 S^-1 V^H);
# for m < n the same of V = [V1 V2]: dV2 = -V1 S^-1 U^H dA V2, A_bar = -conj(U) S^-1 V1^T G2 V2^T.
# Functions of U2 that the gauge leaves alone (U2 U2^H, U D U^H with D constant on U2's
# columns) have the derivatives of NumPy's factors.

def _complement_parts(ans, x):
    """U, V and s (as a row) of the reduced SVD, and a function splitting a
    full factor's (or its cotangent's) columns into the reduced ones and the rest."""
    from .shape import getitem
    u, s, v = _svd_parts(x)
    k = np.shape(s)[-1]

    def split(f):
        return getitem(f, (Ellipsis, slice(None, k))), getitem(f, (Ellipsis, slice(k, None)))
    return u, v, expand_dims(s, -2), split


def _full_u_jvp(t, ans, x):
    from .shape import concatenate
    u, v, s_row, split = _complement_parts(ans, x)
    u2 = split(ans)[1]
    du2 = negative(matmul(multiply(u, 1.0 / s_row), matmul(_H(v), matmul(_H(t), u2))))
    return concatenate([_svd_jvp_parts(t, x)[0], du2], axis=-1)


def _full_u_vjp(g, ans, x):
    u, v, s_row, split = _complement_parts(ans, x)
    (g1, g2), u2 = split(g), split(ans)[1]
    rest = conjugate(matmul(matmul(u2, _mT(g2)), matmul(multiply(u, 1.0 / s_row), _H(v))))
    return add(_svd_vjp(g1, None, None, x), negative(rest))


def _full_v_jvp(t, ans, x):
    from .shape import concatenate
    u, v, s_row, split = _complement_parts(ans, x)
    v2 = split(ans)[1]
    dv2 = negative(matmul(multiply(v, 1.0 / s_row), matmul(_H(u), matmul(t, v2))))
    return concatenate([_svd_jvp_parts(t, x)[2], dv2], axis=-1)


def _full_v_vjp(g, ans, x):
    u, v, s_row, split = _complement_parts(ans, x)
    (g1, g2), v2 = split(g), split(ans)[1]
    rest = matmul(multiply(conjugate(u), 1.0 / s_row), matmul(_mT(v), matmul(g2, _mT(v2))))
    return add(_svd_vjp(None, None, g1, x), negative(rest))


svd_u_full = defprim("svd_u_full", lambda x: np.linalg.svd(x)[0],
                     vjps=[_full_u_vjp], jvps=[_full_u_jvp])
svd_v_full = defprim(
    "svd_v_full", lambda x: np.conjugate(np.swapaxes(np.linalg.svd(x)[2], -1, -2)),
    vjps=[_full_v_vjp], jvps=[_full_v_jvp])


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """numpy.linalg.svd for real or complex matrices with distinct, nonzero
    singular values.  The full factors of a non-square matrix (full_matrices,
    NumPy's default) are NumPy's; their extra columns are fixed only up to a
    unitary mixing, which the derivatives hold still (see above)."""
    if not hasattr(a, "tape"):
        return np.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv,
                             hermitian=hermitian)
    if hermitian:
        return _hermitian_svd(a, compute_uv)
    if not compute_uv:
        return singular_values(a)
    m, n = np.shape(a)[-2:]
    u = svd_u_full(a) if full_matrices and m > n else svd_u(a)
    v = svd_v_full(a) if full_matrices and m < n else svd_v(a)
    return _SVDResult(u, svd_s(a), _H(v))


def _hermitian_svd(a, compute_uv):
    """NumPy's svd(a, hermitian=True): from eigh (of the lower triangle), the
    singular values |w| in descending order, U the eigenvectors in that order
    and Vh = (U sign(w))^H."""
    from .elementwise import absolute, sign
    from .indexing import take_along_axis
    from .sorting import argsort, sort
    from .shape import getitem
    if not compute_uv:
        return getitem(sort(absolute(eigvalsh(a))), (Ellipsis, slice(None, None, -1)))
    w, u = eigh(a)
    order = argsort(absolute(w))[..., ::-1]  # (primitives: recorded tapes guard the order
    signs = np.take_along_axis(sign(w), order, axis=-1)  # and the signs)
    u = take_along_axis(u, order[..., None, :], axis=-1)
    vh = _H(multiply(u, signs[..., None, :]))
    return _SVDResult(u, take_along_axis(absolute(w), order, axis=-1), vh)


# -- pinv: the Moore-Penrose pseudo-inverse, at constant rank -------------------------
#
# P = A+ is differentiable where the rank of A does not change (Golub and
# Pereyra, SIAM J. Numer. Anal. 10 (1973), eq. 4.12):
#   dP = -P dA P + P P^H dA^H (I - A P) + (I - P A) dA^H P^H P,
# whose transpose gives the VJP
#   A_bar = -P^T G P^T + conj((I - A P) G^T P P^H + P^H P G^T (I - P A))
# (for real A, ^H is ^T and conj does nothing).
# The last two terms vanish for an invertible A; for a rank-deficient one
# they carry the change of the row and column spaces, which V diag(1/s) U^T
# of every singular value cannot (its 1/s of the zero ones is 1e15 or inf).
# The value is NumPy's own pinv, with its cut-off of small singular values.

def _pinv_fun(a, rcond=None, hermitian=False, **kwargs):
    if rcond is not None:
        kwargs["rcond"] = rcond
    return np.linalg.pinv(a, hermitian=hermitian, **kwargs)


def _projector_complement(x, p, x_first):
    """I - x p (x_first) or I - p x: the projection onto the complement of
    a range (A P) or of a row space (P A)."""
    product = matmul(x, p) if x_first else matmul(p, x)
    return add(np.eye(np.shape(product)[-1]), negative(product))


def _reads_lower_triangle(args):
    """pinv(..., hermitian=True): NumPy's pinv then reads the lower triangle
    (through eigh), so the rules are those at the Hermitian matrix it makes."""
    return len(args) > 1 and args[1]


def _pinv_vjp(g, ans, a, *args, **kwargs):
    if _reads_lower_triangle(args):
        return _from_symmetric(_pinv_vjp(g, ans, _symmetric_tangent(a, "L")), "L")
    p, pt, ph, gt = ans, _mT(ans), _H(ans), _mT(g)
    column = matmul(_projector_complement(a, p, True), matmul(gt, matmul(p, ph)))
    row = matmul(matmul(ph, p), matmul(gt, _projector_complement(a, p, False)))
    return add(negative(matmul(pt, matmul(g, pt))), conjugate(add(column, row)))


def _pinv_jvp(t, ans, a, *args, **kwargs):
    if _reads_lower_triangle(args):
        return _pinv_jvp(_symmetric_tangent(t, "L"), ans, _symmetric_tangent(a, "L"))
    p, ph, th = ans, _H(ans), _H(t)
    return add(add(negative(matmul(p, matmul(t, p))),
                   matmul(matmul(p, ph), matmul(th, _projector_complement(a, p, True)))),
               matmul(_projector_complement(a, p, False), matmul(th, matmul(ph, p))))


_pinv = defprim("pinv", _pinv_fun, vjps=[_pinv_vjp, None, None], jvps=[_pinv_jvp, None, None],
                saves=[(0, -1), (), ()])


def pinv(a, rcond=None, hermitian=False, **kwargs):
    """numpy.linalg.pinv (NumPy's value, small singular values cut off as
    NumPy cuts them), differentiable where the rank does not change, full
    or deficient."""
    if not hasattr(a, "tape"):
        return _pinv_fun(a, rcond, hermitian, **kwargs)
    if rcond is None and not hermitian and not kwargs:
        return _pinv(a)
    return _pinv(a, rcond, hermitian, **kwargs)


# -- qr: reduced ------------------------------------------------------------------------
#
# For m >= n (JAX's _thin_qr_jvp, complex input included): X = dA R^-1, C = Q^H X,
# W = tril(C, -1) - tril(C, -1)^H + i Im diag(C) (LAPACK's R has a real diagonal),
#   dQ = Q (W - C) + X,  dR = (C - W) R.
# Its transpose: M = R_bar R^T - Q^T Q_bar, N = M - tril(M - M^H, -1) - i Im diag(M),
#   A_bar = (Q_bar + conj(Q) N) R^-T.
# For m < n (JAX's qr_jvp_rule): A = [A1 A2] with A1 square, Q R1 = A1 as above and
# R2 = Q^H A2, so dR2 = dQ^H A2 + Q^H dA2; transposed, Q_bar gains conj(A2 R2_bar^T)
# and A2_bar = conj(Q) R2_bar.

def _tril_strict(x):
    n = np.shape(x)[-1]
    return multiply(x, np.tril(np.ones((n, n)), -1))


def _qr_parts(x):
    return qr_q(x), qr_r(x)


def _thin_qr_vjp(q, r, gq, gr):
    m = 0.0
    if gr is not None:
        m = matmul(gr, _mT(r))
    if gq is not None:
        m = add(m, negative(matmul(_mT(q), gq)))
    n = add(m, negative(_tril_strict(add(m, negative(_H(m))))))
    if is_complex(n):
        n = add(n, negative(_i_im_diagonal(n)))
    g = matmul(conjugate(q), n)
    if gq is not None:
        g = add(g, gq)
    return _mT(solve(r, _mT(g)))  # G R^-T


def _thin_qr_jvp(q, r, t):
    xr = _mT(solve(_mT(r), _mT(t)))  # dA R^-1
    c = matmul(_H(q), xr)
    lower = _tril_strict(c)
    w = add(lower, negative(_H(lower)))
    if is_complex(c):
        w = add(w, _i_im_diagonal(c))
    return add(matmul(q, add(w, negative(c))), xr), matmul(add(c, negative(w)), r)


def _split_wide(x):
    """A wide matrix's (or R's) square first block and the rest."""
    from .shape import getitem
    m = np.shape(x)[-2]
    return (getitem(x, (Ellipsis, slice(None), slice(None, m))),
            getitem(x, (Ellipsis, slice(None), slice(m, None))))


def _qr_vjp(gq, gr, x):
    q, r = _qr_parts(x)
    if np.shape(x)[-2] >= np.shape(x)[-1]:
        return _thin_qr_vjp(q, r, gq, gr)
    from .shape import concatenate
    x2 = _split_wide(x)[1]
    r1, gr1, gr2 = _split_wide(r)[0], None, None
    if gr is not None:
        gr1, gr2 = _split_wide(gr)
        r2_part = conjugate(matmul(x2, _mT(gr2)))
        gq = r2_part if gq is None else add(gq, r2_part)
    g1 = _thin_qr_vjp(q, r1, gq, gr1)
    g2 = matmul(conjugate(q), gr2) if gr2 is not None else multiply(x2, 0.0)
    return concatenate([g1, g2], axis=-1)


def _qr_jvp(t, x):
    q, r = _qr_parts(x)
    if np.shape(x)[-2] >= np.shape(x)[-1]:
        return _thin_qr_jvp(q, r, t)
    from .shape import concatenate
    x2 = _split_wide(x)[1]
    t1, t2 = _split_wide(t)
    dq, dr1 = _thin_qr_jvp(q, _split_wide(r)[0], t1)
    dr2 = add(matmul(_H(dq), x2), matmul(_H(q), t2))
    return dq, concatenate([dr1, dr2], axis=-1)


qr_q = defprim("qr_q", lambda x: np.linalg.qr(x)[0],
               vjps=[lambda g, ans, x: _qr_vjp(g, None, x)],
               jvps=[lambda t, ans, x: _qr_jvp(t, x)[0]])
qr_r = defprim("qr_r", lambda x: np.linalg.qr(x)[1],
               vjps=[lambda g, ans, x: _qr_vjp(None, g, x)],
               jvps=[lambda t, ans, x: _qr_jvp(t, x)[1]])


def qr(a, mode="reduced"):
    """numpy.linalg.qr of a real or complex matrix whose first min(m, n)
    columns have full rank: (Q, R) for mode 'reduced' (and 'complete' when
    m <= n, the same factors), R for mode 'r'."""
    if not hasattr(a, "tape"):
        return np.linalg.qr(a, mode=mode)
    m, n = np.shape(a)[-2:]
    if mode == "r":
        return qr_r(a)
    if not (mode == "reduced" or mode == "complete" and m <= n):
        raise NotImplementedError(
            "fastad.numpy.linalg.qr differentiates mode='reduced' and 'r' (and 'complete' of a "
            "matrix with no more rows than columns: the complete Q of a tall one is not unique)")
    return _QRResult(qr_q(a), qr_r(a))
