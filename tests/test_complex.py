"""Complex numbers: the systematic test of every op that accepts complex input.

The convention is autograd's and JAX's: a VJP rule is the transpose (not the
conjugate transpose) of the function's derivative, so a holomorphic
function's rule is g f'(z), and the gradient of a real-valued function of
complex z is df/dx - i df/dy (|z|^2 at 3+4j: 6-8j).  In real terms, with J
the real Jacobian of f seen as R^2n -> R^2m, vjp(c) = conj(J^T conj(c)) and
jvp(t) = J t, each complex vector packed as (real parts, imaginary parts):
that is how the central differences below check every rule.  Where JAX is
installed, each result is also compared with JAX's to 1e-12.
"""
import builtins
import types
import zlib

import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
from complex_checks import pack as _pack, real_jacobian as _real_jacobian, unpack as _unpack

RNG = numpy.random.default_rng(7)


def crandom(shape, dtype=numpy.complex128, domain="any"):
    z = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
    if domain == "unit":      # |z| < 1 (away from the branch points +-1, +-i)
        z = 0.6 * z / (1.0 + numpy.abs(z))
    elif domain == "right":   # Re z > 0 (away from the negative real axis: log's cut)
        z = numpy.abs(z.real) + 0.3 + 1j * z.imag
    return numpy.asarray(z, dtype)


# name: (function, argument domains, whether the output is real)
UNARY = {
    "negative": fnp.negative, "positive": fnp.positive, "square": fnp.square,
    "reciprocal": fnp.reciprocal, "exp": fnp.exp, "expm1": fnp.expm1, "exp2": fnp.exp2,
    "sin": fnp.sin, "cos": fnp.cos, "tan": fnp.tan, "sinh": fnp.sinh, "cosh": fnp.cosh,
    "tanh": fnp.tanh, "conjugate": fnp.conjugate, "arctan": fnp.arctan,
    "arcsinh": fnp.arcsinh,
}
UNARY_RIGHT = {"sqrt": fnp.sqrt, "log": fnp.log, "log2": fnp.log2, "log10": fnp.log10,
               "log1p": fnp.log1p}
UNARY_UNIT = {"arcsin": fnp.arcsin, "arccos": fnp.arccos, "arctanh": fnp.arctanh}
REAL_OUT = {"absolute": fnp.absolute, "real": fnp.real, "imag": fnp.imag, "angle": fnp.angle}

CASES = []
for name, f in UNARY.items():
    CASES.append((name, f, ["any"]))
for name, f in UNARY_RIGHT.items():
    CASES.append((name, f, ["right"]))
for name, f in UNARY_UNIT.items():
    CASES.append((name, f, ["unit"]))
for name, f in REAL_OUT.items():
    CASES.append((name, f, ["any"]))
CASES += [
    ("arccosh", fnp.arccosh, ["right"]),  # (its cut runs along x < 1 on the real axis)
    ("add", fnp.add, ["any", "any"]), ("subtract", fnp.subtract, ["any", "any"]),
    ("multiply", fnp.multiply, ["any", "any"]), ("true_divide", fnp.true_divide, ["any", "any"]),
    ("power", fnp.power, ["right", "any"]),
    ("sum", lambda x: fnp.sum(x, axis=-1), ["any"]), ("mean", fnp.mean, ["any"]),
    ("prod", lambda x: fnp.prod(x, axis=0), ["any"]), ("cumsum", fnp.cumsum, ["any"]),
    ("dot", fnp.dot, ["any", "any"]), ("matmul", fnp.matmul, ["any", "any"]),
    ("outer", fnp.outer, ["any", "any"]), ("vdot", fnp.vdot, ["any", "any"]),
    ("einsum", lambda a, b: fnp.einsum("ij,jk->ik", a, b), ["any", "any"]),
    ("transpose", fnp.transpose, ["any"]), ("getitem", lambda x: x[1:, ::-1], ["any"]),
    ("reshape", lambda x: fnp.reshape(x, (-1,)), ["any"]),
    ("concatenate", lambda a, b: fnp.concatenate([a, b]), ["any", "any"]),
    ("stack", lambda a, b: fnp.stack([a, b]), ["any", "any"]),
    ("where", lambda a, b: fnp.where(numpy.array([[True, False, True]] * 3), a, b),
     ["any", "any"]),
    ("var", fnp.var, ["any"]), ("std", fnp.std, ["any"]),
    ("abs squared", lambda x: fnp.abs(x) ** 2, ["any"]),
    ("det", fnp.linalg.det, ["any"]), ("inv", fnp.linalg.inv, ["any"]),
    ("solve", fnp.linalg.solve, ["any", "any"]),
]
SHAPES = {"dot": [(3, 3), (3, 3)], "matmul": [(3, 3), (3, 3)], "outer": [(3,), (3,)],
          "vdot": [(3,), (3,)], "einsum": [(3, 3), (3, 3)], "det": [(3, 3)], "inv": [(3, 3)],
          "solve": [(3, 3), (3,)], "prod": [(3, 3)]}

# numpy.linalg: (name, function, shapes).  Each function is written with `fnp` and
# `numpy` alone, so that the same code with jax.numpy in fnp's place is JAX's function
# (_jax_function).  Eigenvectors and singular vectors are fixed only up to a phase
# each: they enter through functions the phases leave alone (|V|^2, V f(w) V^H,
# U f(s) V^H), as in JAX's own tests; eigh and cholesky read one triangle where JAX
# symmetrizes, so they get Hermitian input.  Square arguments are random + 3 I (well
# conditioned; distinct eigenvalues and singular values).
LINALG = [
    ("norm", lambda x: fnp.linalg.norm(x), [(3, 4)]),
    ("norm axis keepdims", lambda x: fnp.linalg.norm(x, axis=1, keepdims=True), [(3, 4)]),
    ("norm 2 vector", lambda x: fnp.linalg.norm(x, 2), [(5,)]),
    ("norm 3 axis 0", lambda x: fnp.linalg.norm(x, 3, axis=0), [(3, 4)]),
    ("norm 1 vector", lambda x: fnp.linalg.norm(x, 1, axis=-1), [(2, 4)]),
    ("norm -1.5 vector", lambda x: fnp.linalg.norm(x, -1.5), [(4,)]),
    ("norm inf vector", lambda x: fnp.linalg.norm(x, numpy.inf, axis=1), [(3, 4)]),
    ("norm fro axes", lambda x: fnp.linalg.norm(x, "fro", axis=(2, 0)), [(3, 2, 4)]),
    ("norm 1 matrix", lambda x: fnp.linalg.norm(x, 1), [(3, 4)]),
    ("norm -inf matrix", lambda x: fnp.linalg.norm(x, -numpy.inf), [(3, 4)]),
    ("norm nuc", lambda x: fnp.linalg.norm(x, "nuc"), [(4, 3)]),
    ("norm 2 matrix", lambda x: fnp.linalg.norm(x, 2, axis=(0, 1), keepdims=True), [(3, 4, 2)]),
    ("norm -2 matrix", lambda x: fnp.linalg.norm(x, -2), [(3, 4)]),
    ("vector_norm", lambda x: fnp.linalg.vector_norm(x, axis=(0, 2), ord=3), [(2, 3, 2)]),
    ("matrix_norm", lambda x: fnp.linalg.matrix_norm(x, ord="nuc"), [(2, 3, 4)]),
    ("svd s", lambda a: fnp.linalg.svd(a, compute_uv=False), [(3, 4)]),
    ("svd s batched", lambda a: fnp.linalg.svd(a, compute_uv=False), [(2, 4, 3)]),
    ("svdvals", lambda a: fnp.linalg.svdvals(a), [(4, 3)]),
    ("svd |U|^2 tall", lambda a: fnp.abs(fnp.linalg.svd(a, full_matrices=False)[0]) ** 2,
     [(4, 3)]),
    ("svd |Vh|^2 wide", lambda a: fnp.abs(fnp.linalg.svd(a, full_matrices=False)[2]) ** 2,
     [(2, 3, 4)]),
    ("svd U sin(s) Vh", lambda a: (lambda u, s, vh: fnp.matmul(
        u * fnp.expand_dims(fnp.sin(s), -2), vh))(*fnp.linalg.svd(a, full_matrices=False)),
     [(2, 4, 3)]),
    ("svd square full_matrices", lambda a: (lambda u, s, vh: fnp.matmul(
        u * fnp.expand_dims(s ** 2, -2), vh))(*fnp.linalg.svd(a)), [(3, 3)]),
    # (full_matrices of a non-square matrix: U D U^H with D constant on the extra columns,
    # which any unitary mixing of them leaves alone; JAX does not differentiate these)
    ("svd full U D U^H tall", lambda a: (lambda u: fnp.matmul(
        u * numpy.array([1.0, 2.0, 4.0, 4.0]), fnp.conj(fnp.swapaxes(u, -1, -2))))(
        fnp.linalg.svd(a)[0]), [(2, 4, 2)]),
    ("svd full V D V^H wide", lambda a: (lambda vh: fnp.matmul(
        fnp.conj(fnp.swapaxes(vh, -1, -2)) * numpy.array([1.0, 2.0, 4.0, 4.0, 4.0]), vh))(
        fnp.linalg.svd(a)[2]), [(3, 5)]),
    ("eigvalsh", lambda a: fnp.linalg.eigvalsh(a + fnp.conj(fnp.swapaxes(a, -1, -2))),
     [(3, 3)]),
    ("eigh w UPLO U", lambda a: fnp.linalg.eigh(a + fnp.conj(fnp.swapaxes(a, -1, -2)),
                                                UPLO="U")[0], [(2, 3, 3)]),
    ("eigh |V|^2", lambda a: fnp.abs(fnp.linalg.eigh(
        a + fnp.conj(fnp.swapaxes(a, -1, -2)))[1]) ** 2, [(3, 3)]),
    ("eigh V sin(w) V^H", lambda a: (lambda w, v: fnp.matmul(
        v * fnp.expand_dims(fnp.sin(w), -2), fnp.conj(fnp.swapaxes(v, -1, -2))))(
        *fnp.linalg.eigh(a + fnp.conj(fnp.swapaxes(a, -1, -2)))), [(2, 3, 3)]),
    # (NumPy's function of one triangle; JAX's eigh symmetrizes its input)
    ("eigh |V|^2 of a triangle", lambda a: fnp.abs(fnp.linalg.eigh(a, "U")[1]) ** 2,
     [(3, 3)]),
    ("eigvalsh of a triangle", lambda a: fnp.linalg.eigvalsh(a, "U"), [(2, 3, 3)]),
    ("svd hermitian s", lambda a: fnp.linalg.svd(
        a + fnp.conj(fnp.swapaxes(a, -1, -2)), compute_uv=False, hermitian=True), [(3, 3)]),
    ("svd hermitian U sin(s) Vh", lambda a: (lambda u, s, vh: fnp.matmul(
        u * fnp.expand_dims(fnp.sin(s), -2), vh))(*fnp.linalg.svd(
            a + fnp.conj(fnp.swapaxes(a, -1, -2)), hermitian=True)), [(2, 3, 3)]),
    ("pinv hermitian of a triangle", lambda a: fnp.linalg.pinv(a, hermitian=True), [(3, 3)]),
    # (LAPACK's eigenvectors have unit norm and their largest component real: V itself)
    ("eigvals", lambda a: fnp.linalg.eigvals(a), [(3, 3)]),
    ("eig w", lambda a: fnp.linalg.eig(a)[0], [(2, 3, 3)]),
    ("eig V", lambda a: fnp.linalg.eig(a)[1], [(3, 3)]),
    ("eig |V|^2", lambda a: fnp.abs(fnp.linalg.eig(a)[1]) ** 2, [(2, 3, 3)]),
    ("qr Q", lambda a: fnp.linalg.qr(a)[0], [(4, 3)]),
    ("qr R", lambda a: fnp.linalg.qr(a)[1], [(2, 3, 3)]),
    ("qr Q wide", lambda a: fnp.linalg.qr(a)[0], [(2, 4)]),
    ("qr R wide", lambda a: fnp.linalg.qr(a)[1], [(2, 3, 5)]),
    ("qr mode r", lambda a: fnp.linalg.qr(a, mode="r"), [(4, 3)]),
    ("cholesky", lambda a: fnp.linalg.cholesky(
        fnp.matmul(a, fnp.conj(fnp.swapaxes(a, -1, -2))) + numpy.eye(3)), [(2, 3, 3)]),
    ("slogdet logabsdet", lambda a: fnp.linalg.slogdet(a)[1], [(2, 3, 3)]),
    ("slogdet sign", lambda a: fnp.linalg.slogdet(a)[0], [(3, 3)]),
    ("det batched", lambda a: fnp.linalg.det(a), [(2, 3, 3)]),
    ("inv batched", lambda a: fnp.linalg.inv(a), [(2, 3, 3)]),
    ("solve matrix", lambda a, b: fnp.linalg.solve(a, b), [(3, 3), (3, 2)]),
    ("pinv wide", lambda a: fnp.linalg.pinv(a), [(3, 4)]),
    ("pinv tall batched", lambda a: fnp.linalg.pinv(a), [(2, 4, 3)]),
    ("matrix_power 3", lambda a: fnp.linalg.matrix_power(a, 3), [(3, 3)]),
    ("matrix_power -2", lambda a: fnp.linalg.matrix_power(a, -2), [(3, 3)]),
    ("cond", lambda a: fnp.linalg.cond(a), [(3, 3)]),
    ("lstsq", lambda a, b: fnp.linalg.lstsq(a, b)[0], [(4, 3), (4,)]),
    ("vecdot", lambda a, b: fnp.vecdot(a, b), [(2, 3), (3,)]),
    ("vecmat", lambda a, b: fnp.vecmat(a, b), [(3,), (3, 2)]),
]
CASES += [(name, f, ["any"] * len(shapes)) for name, f, shapes in LINALG]
SHAPES.update((name, shapes) for name, f, shapes in LINALG)


_LINALG_NAMES = frozenset(c[0] for c in LINALG)


def _arguments(name, domains, dtype):
    shapes = SHAPES.get(name, [(3, 3)] * len(domains))
    if name in _LINALG_NAMES:
        # (draws of its own, so that the conditioning does not depend on which tests ran)
        rng = numpy.random.default_rng(zlib.crc32(name.encode()))
        args = [rng.standard_normal(shape) + 1j * rng.standard_normal(shape) for shape in shapes]
        return [numpy.asarray(a + 3.0 * numpy.eye(a.shape[-1]) if a.ndim >= 2
                              and a.shape[-1] == a.shape[-2] else a, dtype) for a in args]
    args = [crandom(shape, dtype, domain) for shape, domain in zip(shapes, domains)]
    if name in ("det", "inv", "solve"):
        args[0] = args[0] + 3.0 * numpy.eye(3, dtype=dtype)  # well conditioned
    return args


def _cotangent(out):
    out = numpy.asarray(out)
    c = RNG.standard_normal(out.shape)
    if out.dtype.kind == "c":
        c = c + 1j * RNG.standard_normal(out.shape)
    return numpy.asarray(c, out.dtype)


@pytest.mark.parametrize("name, f, domains", CASES, ids=[c[0] for c in CASES])
def test_complex_rules_against_central_differences(name, f, domains):
    args = _arguments(name, domains, numpy.complex128)
    plain = [numpy.asarray(a) for a in args]
    value = f(*plain)
    out, vjp_fun = fd.vjp(f, *args)
    numpy.testing.assert_allclose(out, value, rtol=1e-13, atol=1e-15)
    J = _real_jacobian(f, plain)
    c = _cotangent(value)
    expected = _unpack(J.T @ _pack(numpy.conj(c)), plain)  # conj(J^T conj(c)) below
    for got, want, a in zip(vjp_fun(c), expected, plain):
        numpy.testing.assert_allclose(got, numpy.conj(want), rtol=1e-6, atol=1e-7,
                                      err_msg="%s: VJP" % name)
        assert numpy.result_type(got) == a.dtype
    tangents = [crandom(a.shape) for a in plain]
    _, t_out = fd.jvp(f, tuple(args), tuple(tangents))
    t_expected = J @ numpy.concatenate([numpy.concatenate([t.real.ravel(), t.imag.ravel()])
                                        for t in tangents])
    numpy.testing.assert_allclose(_pack(t_out), t_expected, rtol=1e-6, atol=1e-7,
                                  err_msg="%s: JVP" % name)


@pytest.fixture(scope="module")
def jnp():
    jax_module = pytest.importorskip("jax")
    jax_module.config.update("jax_enable_x64", True)
    import jax.numpy
    return jax_module, jax.numpy


def _jax_function(name, f, jnp_module):
    """The same function written with jax.numpy (by name)."""
    np_name = {"true_divide": "divide", "conjugate": "conjugate", "getitem": None,
               "abs squared": None}.get(name, name)
    special = {
        "sum": lambda x: jnp_module.sum(x, axis=-1),
        "prod": lambda x: jnp_module.prod(x, axis=0),
        "einsum": lambda a, b: jnp_module.einsum("ij,jk->ik", a, b),
        "getitem": lambda x: x[1:, ::-1],
        "reshape": lambda x: jnp_module.reshape(x, (-1,)),
        "concatenate": lambda a, b: jnp_module.concatenate([a, b]),
        "stack": lambda a, b: jnp_module.stack([a, b]),
        "where": lambda a, b: jnp_module.where(numpy.array([[True, False, True]] * 3), a, b),
        "abs squared": lambda x: jnp_module.abs(x) ** 2,
        "det": jnp_module.linalg.det, "inv": jnp_module.linalg.inv,
        "solve": jnp_module.linalg.solve,
    }
    if name in special:
        return special[name]
    if name == "eigvals" or name.startswith("eig "):
        # (jnp.linalg.eig differentiates no eigenvectors, nor eigvals twice: lax's eig
        # does on request)
        from jax.lax import linalg as lax_linalg

        def eig(a):
            return lax_linalg.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
        jnp_linalg = types.SimpleNamespace(eig=eig, eigvals=lambda a: eig(a)[0])
        return types.FunctionType(f.__code__, {"fnp": types.SimpleNamespace(
            linalg=jnp_linalg, abs=jnp_module.abs), "__builtins__": builtins})
    if name in _LINALG_NAMES:  # (the same code, jax.numpy in fnp's place)
        return types.FunctionType(f.__code__, {"fnp": jnp_module, "numpy": numpy,
                                                "__builtins__": builtins})
    return getattr(jnp_module, np_name)


# Of numpy.linalg, the central differences above check every case and JAX one or two a
# rule (its compilation takes 1-7 s a case and dtype): complex128 these, complex64 (the same
# rules at float32 precision) the second set.  The others are variants (axes, batches,
# gauge-invariant functions) of these rules, or functions JAX does not compute: NumPy's of
# one triangle (JAX symmetrizes) and svd's full factors of non-square matrices.
LINALG_JAX = {"norm", "norm 3 axis 0", "norm 1 matrix", "norm nuc", "svd s batched",
              "svd U sin(s) Vh", "svd |Vh|^2 wide", "svd hermitian U sin(s) Vh",
              "eigh V sin(w) V^H", "eig V", "eigvals", "qr Q", "qr R wide", "cholesky",
              "slogdet sign", "slogdet logabsdet", "pinv wide", "matrix_power -2", "vecdot",
              "vecmat"}
LINALG_COMPLEX64 = {"norm nuc", "svd U sin(s) Vh", "eigh V sin(w) V^H", "eig V", "qr R wide",
                    "cholesky", "slogdet sign", "pinv wide", "vecdot"}
JAX_CASES = [(dtype,) + case for case in CASES for dtype in (numpy.complex128, numpy.complex64)
             if case[0] not in _LINALG_NAMES
             or case[0] in (LINALG_JAX if dtype == numpy.complex128 else LINALG_COMPLEX64)]


@pytest.mark.parametrize("dtype, name, f, domains", JAX_CASES,
                         ids=["%s-%s" % (c[0].__name__, c[1]) for c in JAX_CASES])
def test_complex_rules_against_jax(name, f, domains, dtype, jnp):
    jax_module, jnp_module = jnp
    g = _jax_function(name, f, jnp_module)
    args = _arguments(name, domains, dtype)
    rtol = 1e-12 if dtype == numpy.complex128 else 2e-5
    value, vjp_fun = fd.vjp(f, *args)
    j_value, j_vjp = jax_module.vjp(g, *args)
    numpy.testing.assert_allclose(value, j_value, rtol=rtol, atol=rtol)
    c = _cotangent(value)
    for got, want in zip(vjp_fun(c), j_vjp(c)):
        numpy.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 10,
                                      err_msg="%s: VJP" % name)
    tangents = tuple(crandom(a.shape, dtype) for a in args)
    _, t_out = fd.jvp(f, tuple(args), tangents)
    _, j_t = jax_module.jvp(g, tuple(args), tangents)
    numpy.testing.assert_allclose(t_out, j_t, rtol=rtol, atol=rtol * 10,
                                  err_msg="%s: JVP" % name)
    # order 2: the JVP of the VJP function
    def vjp_of(*xs):
        return fd.vjp(f, *xs)[1](c)[0]

    def j_vjp_of(*xs):
        return jax_module.vjp(g, *xs)[1](c)[0]
    _, t2 = fd.jvp(vjp_of, tuple(args), tangents)
    _, j_t2 = jax_module.jvp(j_vjp_of, tuple(args), tangents)
    numpy.testing.assert_allclose(t2, j_t2, rtol=rtol * 10, atol=rtol * 100,
                                  err_msg="%s: JVP of the VJP" % name)


# -- the operators ---------------------------------------------------------------------

def test_gradient_of_a_real_function_of_complex_input_is_jax_and_autograd_s():
    # |z|^2 at 3+4j: 6-8j in JAX and autograd (PyTorch gives the conjugate)
    assert fd.grad(lambda z: fnp.abs(z) ** 2)(3 + 4j) == pytest.approx(6 - 8j)
    assert fd.grad(lambda z: fnp.real(z * fnp.conj(z)))(3 + 4j) == 6 - 8j
    z = numpy.array([1 + 2j, 3 - 1j])
    numpy.testing.assert_allclose(fd.grad(lambda z: fnp.sum(fnp.abs(z) ** 2))(z),
                                  2 * numpy.conj(z))


def test_holomorphic_grad():
    z = 0.3 + 0.4j
    assert fd.grad(fnp.exp, holomorphic=True)(z) == numpy.exp(z)
    assert fd.grad(lambda z: z ** 3, holomorphic=True)(z) == pytest.approx(3 * z ** 2)
    value, g = fd.value_and_grad(fnp.sin, holomorphic=True)(z)
    assert value == numpy.sin(z) and g == pytest.approx(numpy.cos(z))


def test_grad_of_a_complex_output_needs_holomorphic():
    with pytest.raises(TypeError, match="real-valued outputs.*holomorphic=True"):
        fd.grad(lambda z: z * z)(1 + 1j)
    with pytest.raises(TypeError, match=r"holomorphic=True\) requires inputs with complex dtype"):
        fd.grad(lambda x: x * 1j, holomorphic=True)(1.0)
    with pytest.raises(TypeError, match=r"holomorphic=True\) requires outputs with complex"):
        fd.grad(lambda z: fnp.abs(z), holomorphic=True)(1 + 1j)


def test_real_input_through_complex_intermediates_gets_a_real_gradient():
    x = numpy.array([0.3, 1.2])
    g = fd.grad(lambda x: fnp.sum(fnp.real(fnp.exp(1j * x))))(x)
    assert g.dtype == numpy.float64
    numpy.testing.assert_allclose(g, -numpy.sin(x))
    assert fd.grad(lambda x: fnp.imag(fnp.exp(1j * x)))(0.3) == pytest.approx(numpy.cos(0.3))


def test_complex_gradients_keep_the_input_types():
    assert type(fd.grad(lambda z: fnp.real(z))(1 + 2j)) is complex
    g = fd.grad(lambda z: fnp.real(fnp.sum(z)))(numpy.ones(2, numpy.complex64))
    assert g.dtype == numpy.complex64


def test_complex_tangent_of_a_real_primal_is_refused():
    with pytest.raises(TypeError, match="tangent 0 has dtype complex128"):
        fd.jvp(fnp.sin, (1.0,), (1j,))


def test_tangent_of_a_complex_output_no_input_reaches_is_complex():
    # the VJP of var at a complex scalar is 0 whatever the input: its tangent was
    # the float 0.0 where JAX's (and autograd's numerical one) is complex 0
    # (autograd's test_var and test_std in forward-over-reverse)
    h = lambda x, v: fd.vjp(fnp.var, x)[1](v)[0]  # noqa: E731
    value, tangent = fd.jvp(h, (0.8 + 0.1j, 1.3), (0.3 + 0.2j, 0.5))
    assert value == 0 and numpy.result_type(tangent) == numpy.complex128
    assert numpy.result_type(fd.jvp(lambda x: 2j, (1.0,), (1.0,))[1]) == numpy.complex128
    assert fd.jvp(lambda x: 2.0, (1.0,), (1.0,))[1] == 0.0


def test_nested_sweep_takes_the_real_part_for_real_nodes():
    # (the recording sweep added a complex cotangent into a real node: the JVP of
    # (x, v) -> vjp(grad(abs), x)(v) came out twice JAX's, also in its primal)
    x, v, tx, tv = 1.1 + 1.3j, 0.4 + 0.2j, 0.3 - 0.7j, -0.5 + 0.1j
    g = lambda x, v: fd.vjp(fd.grad(fnp.abs), x)[1](v)[0]  # noqa: E731
    value, tangent = fd.jvp(g, (x, v), (tx, tv))
    assert value == pytest.approx(0.07897099503818428 + 0.06682161118615591j, rel=1e-12)
    assert tangent == pytest.approx(-0.28470056158413914 - 0.18669553188133126j, rel=1e-6)
    assert value == pytest.approx(g(x, v), rel=1e-14)


# -- numpy.fft ----------------------------------------------------------------------------

FFT_CASES = [  # (id, function, input is complex)
    ("fft", lambda a: fnp.fft.fft(a), True),
    ("fft n>m axis 0", lambda a: fnp.fft.fft(a, n=6, axis=0), True),
    ("fft n<m ortho", lambda a: fnp.fft.fft(a, n=3, norm="ortho"), True),
    ("fft of real input", lambda a: fnp.fft.fft(a), False),
    ("ifft forward", lambda a: fnp.fft.ifft(a, norm="forward"), True),
    ("fft2 s", lambda a: fnp.fft.fft2(a, s=(3, 7)), True),
    ("ifft2", lambda a: fnp.fft.ifft2(a), True),
    ("fftn axes", lambda a: fnp.fft.fftn(a, axes=(1,)), True),
    ("ifftn", lambda a: fnp.fft.ifftn(a), True),
    ("rfft", lambda a: fnp.fft.rfft(a), False),
    ("rfft odd n", lambda a: fnp.fft.rfft(a, n=5), False),
    ("rfft2", lambda a: fnp.fft.rfft2(a), False),
    ("rfftn s", lambda a: fnp.fft.rfftn(a, s=(5, 7), axes=(0, 1)), False),
    ("irfft", lambda a: fnp.fft.irfft(a), True),
    ("irfft odd n", lambda a: fnp.fft.irfft(a, n=7), True),
    ("irfft ortho", lambda a: fnp.fft.irfft(a, n=12, norm="ortho"), True),
    ("irfft2 s", lambda a: fnp.fft.irfft2(a, s=(5, 9)), True),
    ("irfftn", lambda a: fnp.fft.irfftn(a), True),
    ("hfft", lambda a: fnp.fft.hfft(a), True),
    ("hfft odd n forward", lambda a: fnp.fft.hfft(a, n=9, norm="forward"), True),
    ("ihfft", lambda a: fnp.fft.ihfft(a), False),
    ("fftshift", lambda a: fnp.fft.fftshift(a), True),
    ("ifftshift axes", lambda a: fnp.fft.ifftshift(a, axes=1), True),
]


def _fft_input(is_complex, dtype=numpy.complex128):
    if is_complex:
        return crandom((4, 6), dtype)
    return RNG.standard_normal((4, 6)).astype(numpy.float32 if dtype == numpy.complex64
                                                else numpy.float64)


@pytest.mark.parametrize("name, f, is_complex", FFT_CASES, ids=[c[0] for c in FFT_CASES])
def test_fft_against_central_differences(name, f, is_complex):
    a = _fft_input(is_complex)
    value = f(a)
    out, vjp_fun = fd.vjp(f, a)
    numpy.testing.assert_array_equal(out, value)  # NumPy's values
    J = _real_jacobian(f, [a])
    c = _cotangent(value)
    (got,) = vjp_fun(c)
    want = J.T @ _pack(numpy.conj(c))
    want = numpy.conj(_unpack(want, [a])[0]) if is_complex else want.reshape(a.shape)
    numpy.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert got.dtype == a.dtype
    t = _fft_input(is_complex)
    _, t_out = fd.jvp(f, (a,), (t,))
    numpy.testing.assert_allclose(_pack(t_out), J @ _pack(t), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, f, is_complex", FFT_CASES, ids=[c[0] for c in FFT_CASES])
@pytest.mark.parametrize("dtype", [numpy.complex128, numpy.complex64])
def test_fft_against_jax(name, f, is_complex, dtype, jnp):
    jax_module, jnp_module = jnp
    calls = {"fft": "fft", "ifft": "ifft", "fft2": "fft2", "ifft2": "ifft2", "fftn": "fftn",
             "ifftn": "ifftn", "rfft": "rfft", "rfft2": "rfft2", "rfftn": "rfftn",
             "irfft": "irfft", "irfft2": "irfft2", "irfftn": "irfftn", "hfft": "hfft",
             "ihfft": "ihfft", "fftshift": "fftshift", "ifftshift": "ifftshift"}

    class JaxFFT:  # fnp.fft's names, from jax.numpy.fft
        def __getattr__(self, attr):
            return getattr(jnp_module.fft, calls[attr])

    class JaxNumpy:
        fft = JaxFFT()
    import types
    g = types.FunctionType(f.__code__, {"fnp": JaxNumpy()})
    a = _fft_input(is_complex, dtype)
    rtol = 1e-12 if dtype == numpy.complex128 else 2e-5
    value, vjp_fun = fd.vjp(f, a)
    j_value, j_vjp = jax_module.vjp(g, a)
    numpy.testing.assert_allclose(value, j_value, rtol=rtol, atol=rtol)
    c = _cotangent(value)
    numpy.testing.assert_allclose(vjp_fun(c)[0], j_vjp(c)[0], rtol=rtol, atol=rtol * 10)
    t = _fft_input(is_complex, dtype)
    numpy.testing.assert_allclose(fd.jvp(f, (a,), (t,))[1], jax_module.jvp(g, (a,), (t,))[1],
                                  rtol=rtol, atol=rtol * 10)


def test_fft_differentiates_twice_and_is_dispatched_from_numpy():
    z = crandom((5,))
    # |fft(z)|^2 summed is n |z|^2 (Parseval): gradient 2 n conj(z), Hessian-vector 2 n v
    g = fd.grad(lambda z: fnp.sum(fnp.abs(numpy.fft.fft(z)) ** 2))(z)
    numpy.testing.assert_allclose(g, 10 * numpy.conj(z), rtol=1e-12)
    v = crandom((5,))
    _, hv = fd.jvp(fd.grad(lambda z: fnp.sum(fnp.abs(fnp.fft.fft(z)) ** 2)), (z,), (v,))
    numpy.testing.assert_allclose(hv, 10 * numpy.conj(v), rtol=1e-12)


def test_fft_refuses_out_and_repeated_axes_on_traced_input():
    z = crandom((4, 4))
    with pytest.raises(TypeError, match="out="):
        fd.vjp(lambda a: fnp.fft.fft(a, out=numpy.empty(4, complex)), z)
    with pytest.raises(NotImplementedError, match="repeating an axis"):
        fd.vjp(lambda a: fnp.fft.fftn(a, axes=(0, 0)), z)


def test_scipy_fft_has_scipy_s_values_and_the_same_rules():
    sfft = pytest.importorskip("fastad.scipy.fft")
    import scipy.fft
    z = crandom((6,))
    for name in ("fft", "ifft", "hfft"):
        out, vjp_fun = fd.vjp(lambda a: getattr(sfft, name)(a, workers=1), z)
        numpy.testing.assert_array_equal(out, getattr(scipy.fft, name)(z))
        c = _cotangent(out)
        numpy.testing.assert_allclose(
            vjp_fun(c)[0], fd.vjp(getattr(fnp.fft, name), z)[1](c)[0], rtol=1e-13, atol=1e-14)
    x = z.real.copy()
    numpy.testing.assert_array_equal(sfft.rfft(x), scipy.fft.rfft(x))
    numpy.testing.assert_allclose(fd.grad(lambda x: fnp.sum(fnp.abs(sfft.rfft(x)) ** 2))(x),
                                  fd.grad(lambda x: fnp.sum(fnp.abs(fnp.fft.rfft(x)) ** 2))(x))
    with pytest.raises(TypeError, match="plan="):
        fd.vjp(lambda a: sfft.fft(a, plan=object()), z)
