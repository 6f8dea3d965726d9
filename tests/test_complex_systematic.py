"""Complex numbers through the systematic op test: every case of the op table's
own test (tests/test_ops.py's tables, and tests/test_scipy_more.py's) whose
plain function (NumPy's or SciPy's) accepts complex input, with complex inputs.

The cases are not listed here again: they are the tables, each argument
drawn complex from the complex version of its domain.  Whether an op accepts
complex input is NumPy's (or SciPy's) to say: the plain function is called
on complex input, and a TypeError or ValueError means it does not (floor,
mod, arctan2, hypot, ...); where only some arguments may be complex (interp's
values but not its abscissae), each argument is tried complex alone.  Ops
whose complex behaviour is an ordering are excluded by name (EXCLUDED, with
the reason).  For every other case:

1. value: the traced call equals NumPy's on complex input, bit for bit
   (VALUE_NOT_BITWISE: to 1e-13, where fastad computes it its own way);
2. VJP, JVP and the JVP of the VJP function against central differences of
   the real Jacobian (complex128): with J the Jacobian of f seen as a map of
   real and imaginary parts, vjp(c) = conj(J^T conj(c)) and jvp(t) = J t
   (autograd's and JAX's convention: a rule is the transpose, not the
   conjugate transpose, of the derivative);
3. complex64 inputs keep complex64 values and derivatives (where NumPy
   keeps complex64), matching the complex128 ones to complex64 accuracy;
4. where JAX is installed, the same function with jax.numpy (and
   jax.scipy) in place of fastad's modules: value, VJP (a random complex
   cotangent; jax.grad for real-valued outputs), JVP (a random complex
   tangent) and the JVP of the VJP function to 1e-12 relative (complex128)
   and 2e-5 (complex64).

Where NumPy refuses complex input, fastad must refuse it too (no silent
answer), except where it goes beyond SciPy on purpose (BEYOND_SCIPY: its own
value is then the reference).  test_every_op_accepting_complex_input_is_covered
lists the registry's ops that no complex case reaches, so that a new op cannot
escape this test; linear algebra is left to tests/test_complex.py for now
(_not_covered_here).
"""
import collections
import importlib
import types
import warnings
import zlib

import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
import fastad.scipy.signal as fss
import fastad.scipy.special as fsp
from fastad import nn
from fastad.ops import REGISTRY
from complex_checks import pack as _pack, real_jacobian as _jacobian, unpack as _unpack

from test_ops import (AXES, BINARY, COMPOSITE_CASES, EINSUM_CASES, JOIN_CASES, PRODUCT_CASES,
                      REDUCTIONS, SCIPY_SPECIAL_CASES, SCIPY_SPECIAL_SHAPES, SHAPE_CASES,
                      SPECIAL_CASES, UNARY, _einsum_arguments, sample)

try:  # its module skips itself without SciPy
    from test_scipy_more import CASES as SCIPY_MORE_CASES
except (ImportError, pytest.skip.Exception):
    SCIPY_MORE_CASES = []

try:
    import scipy.special as scipy_special
except ImportError:
    scipy_special = None


@pytest.fixture(autouse=True)
def drop_every_residual():
    """As in tests/test_ops.py: the tape keeps only what each rule's `saves`
    declares, whatever the array size, so that a wrong declaration fails."""
    previous = fd._tape.set_residual_threshold(0)
    yield
    fd._tape.set_residual_threshold(previous)


# -- complex domains: the complex version of each of test_ops's domains ----------------

def _polar(rng, shape, r_low, r_high):
    return rng.uniform(r_low, r_high, shape) * numpy.exp(2j * numpy.pi * rng.uniform(0, 1, shape))


COMPLEX_DOMAINS = {
    "real": lambda rng, shape: rng.standard_normal(shape) + 1j * rng.standard_normal(shape),
    # Re z > 0.3: away from the cut of log and sqrt (the negative real axis)
    "positive": lambda rng, shape: (rng.uniform(0.4, 2.0, shape)
                                    + 1j * rng.uniform(-1.5, 1.5, shape)),
    "unit": lambda rng, shape: _polar(rng, shape, 0.0, 0.6),  # |z| < 0.6
    "nonzero": lambda rng, shape: _polar(rng, shape, 0.5, 2.0),  # |z| in [0.5, 2]
    "gt1": lambda rng, shape: rng.uniform(1.3, 3.0, shape) + 1j * rng.uniform(-1.5, 1.5, shape),
}


def csample(rng, domain, shape, dtype=numpy.complex128):
    return numpy.asarray(COMPLEX_DOMAINS[domain](rng, shape), dtype)


# -- the cases, from the tables ----------------------------------------------------------
#
# Case: an id, the fastad function of arrays (written with fnp, fsp, fss: the
# NumPy/SciPy and JAX versions are the same code with those names rebound), each
# argument's domain, one or two lists of argument shapes, and the plain reference
# (None: the same code with NumPy and SciPy in place of fastad's modules).

Case = collections.namedtuple("Case", "id fun domains shapes reference")

CASES = []
for _name, _domain in sorted(UNARY.items()):
    CASES.append(Case("unary:" + _name, lambda x, _name=_name: getattr(fnp, _name)(x),
                      (_domain,), [[(2, 3)], [()]], None))
for _name, _domains in sorted(BINARY.items()):
    CASES.append(Case("binary:" + _name, lambda x, y, _name=_name: getattr(fnp, _name)(x, y),
                      _domains, [[(2, 3), (3,)], [(2, 1), (1, 3)]], None))
for _name in REDUCTIONS:
    CASES.append(Case(
        "reduction:" + _name,
        lambda x, _name=_name, _axis=AXES[2][1]: getattr(fnp, _name)(x, axis=_axis),
        ("positive" if _name == "prod" else "real",), [[AXES[2][0]]], None))
    CASES.append(Case(
        "reduction:%s-keepdims" % _name,
        lambda x, _name=_name, _axis=AXES[4][1]: getattr(fnp, _name)(x, axis=_axis, keepdims=True),
        ("positive" if _name == "prod" else "real",), [[AXES[4][0]]], None))
for _name, _fun, _shape in SHAPE_CASES:
    CASES.append(Case("shape:" + _name, _fun, ("real",), [[_shape]], None))
for _name, _fun, _sa, _sb in JOIN_CASES:
    CASES.append(Case("join:" + _name, _fun, ("real", "real"), [[_sa, _sb]], None))
for _name, _fun, _shape in COMPOSITE_CASES:
    CASES.append(Case("composite:" + _name, _fun, ("real",), [[_shape]], None))
for _name, _sa, _sb in PRODUCT_CASES:
    CASES.append(Case("product:%s%s%s" % (_name, _sa, _sb),
                      lambda a, b, _name=_name: getattr(fnp, _name)(a, b), ("real", "real"),
                      [[_sa, _sb]], None))
for _subscripts, _shapes in EINSUM_CASES:
    CASES.append(Case("einsum:%s" % (_subscripts,),
                      lambda *ops, _s=_subscripts: fnp.einsum(*_einsum_arguments(_s, ops)),
                      ("real",) * len(_shapes), [list(_shapes)], None))
for _name, _fun, _domain in SPECIAL_CASES:
    CASES.append(Case("special:" + _name, _fun, (_domain,), [[(2, 3)]], None))
for _name, _fun, _reference, _domains in SCIPY_SPECIAL_CASES:
    _shapes = SCIPY_SPECIAL_SHAPES[len(_domains)][1:3]
    CASES.append(Case("scipy_special:" + _name, _fun, _domains,
                      [list(s) if len(_domains) > 1 else [s] for s in _shapes],
                      lambda *a, _r=_reference: _r(scipy_special, *a)))


def _domain_of(value):
    value = numpy.asarray(value, float)
    if numpy.all(numpy.abs(value) < 1):
        return "unit"
    return "positive" if numpy.all(value > 0) else "real"


for _name, _fun, _reference, _args in SCIPY_MORE_CASES:
    CASES.append(Case("scipy_more:" + _name, _fun, tuple(_domain_of(a) for a in _args),
                      [[numpy.shape(a) for a in _args]], _reference))

# The systematic real tests of these ops are test functions, not table rows
# (test_ops.py's test_logsumexp, test_expit, test_ldexp).
CASES += [
    Case("extra:logsumexp", lambda x: fsp.logsumexp(x, axis=1), ("real",), [[(2, 3)]], None),
    Case("extra:logsumexp-keepdims", lambda x: fsp.logsumexp(x, axis=(0, 2), keepdims=True),
         ("real",), [[(2, 3, 2)]], None),
    Case("extra:expit", lambda x: fsp.expit(x), ("real",), [[(2, 3)]], None),
    Case("extra:ldexp", lambda x: fnp.ldexp(x, numpy.array([-3, 0, 5])), ("real",), [[(2, 3)]],
         None),
    # where with a mask that is not a comparison of complex numbers (join:where's is)
    Case("extra:where-mask", lambda a, b: fnp.where(numpy.array([True, False, True]), a, b),
         ("real", "real"), [[(2, 3), (3,)]], None),
    # fastad.nn's units (tests/test_nn.py): softplus is logaddexp(0, x)
    Case("extra:nn.softplus", lambda x: nn.softplus(x), ("real",), [[(2, 3)]], None),
    Case("extra:nn.logistic", lambda a: nn.logistic(a, numpy.eye(3)[[0, 2]]), ("real",),
         [[(2, 3)]], None),
    # the parts of complex numbers (tests/test_complex.py's own cases, in no table of test_ops)
    Case("extra:real", lambda x: fnp.real(x), ("real",), [[(2, 3)]], None),
    Case("extra:imag", lambda x: fnp.imag(x), ("real",), [[(2, 3)]], None),
    Case("extra:conjugate", lambda x: fnp.conjugate(x), ("real",), [[(2, 3)]], None),
    Case("extra:angle", lambda x: fnp.angle(x), ("nonzero",), [[(2, 3)]], None),
]

if scipy_special is None:  # (SciPy is a test dependency; without it, NumPy's ops only)
    CASES = [c for c in CASES if not c.id.startswith(("special:", "scipy_special:", "scipy_more:",
                                                      "extra:logsumexp", "extra:expit"))]

# Ops whose complex behaviour is an ordering: NumPy orders complex numbers
# lexicographically (real parts, then imaginary parts), which is no function
# with a complex derivative to compare; JAX's orderings of complex numbers
# are not all NumPy's either.
ORDERING = "NumPy orders complex numbers lexicographically: no complex derivative"
EXCLUDED = {
    "binary:maximum": ORDERING, "binary:minimum": ORDERING, "binary:fmax": ORDERING,
    "binary:fmin": ORDERING,
    "reduction:max": ORDERING, "reduction:min": ORDERING,
    "reduction:max-keepdims": ORDERING, "reduction:min-keepdims": ORDERING,
    "join:where": "a > 0 of complex a is an ordering (extra:where-mask tests where)",
    "join:clip": ORDERING, "composite:sort": ORDERING,
    "composite:select": "x < -0.5 of complex x is an ordering",
    "composite:quantile": ORDERING + " (a sort)", "composite:quantile-axes": ORDERING + " (a sort)",
    "composite:percentile": ORDERING + " (a sort)",
    "composite:pad-maximum": ORDERING, "composite:pad-minimum": ORDERING,
    "composite:pad-median": ORDERING + " (a sort)",
}
# scipy.stats's distributions (tests/test_scipy_more.py's "norm.logcdf", ...) are of
# real variables: they check their support and parameters by comparisons, an
# ordering of complex numbers (beta.logpdf of complex x in (0, 1) is -inf), and cast
# some parameters to real with a ComplexWarning.
EXCLUDED.update((c.id, "scipy.stats: a real distribution (support checked by ordering)")
                for c in CASES if c.id.startswith("scipy_more:") and "." in c.id)


# -- the same code with other modules: NumPy/SciPy's (the reference) and JAX's ----------

class _Shim:
    """A module whose names come from `primary`, else from `fallback`."""

    def __init__(self, primary, fallback=None):
        self._primary, self._fallback = primary, fallback

    def __getattr__(self, name):
        try:
            return getattr(self._primary, name)
        except AttributeError:
            if self._fallback is None:
                raise
            return getattr(self._fallback, name)


_PUBLIC = ["fastad.numpy", "fastad.scipy.special", "fastad.scipy.signal", "fastad.scipy.stats"]


def _module(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _plain_modules():
    """fastad's public modules -> the modules whose functions they differentiate
    (fastad's own functions on plain arrays where those lack a name: make_diagonal)."""
    out = {}
    for name in _PUBLIC:
        plain = _module(name[len("fastad."):])
        out[name] = _Shim(plain, _module(name)) if plain is not None else _module(name)
    return out


class _JaxShim(_Shim):
    """A jax module whose functions take lists where NumPy's do (jax.numpy refuses
    a list argument where it wants an array: insert(a, [0, 2], b), mean([x, y]))."""

    def __getattr__(self, name):
        value = super().__getattr__(name)
        if isinstance(value, types.ModuleType):
            return _JaxShim(value)
        if not callable(value) or isinstance(value, type):
            return value

        def call(*args, **kwargs):
            try:
                return value(*args, **kwargs)
            except TypeError as exc:
                if "requires ndarray or scalar arguments" not in str(exc):
                    raise
            jnp = importlib.import_module("jax.numpy")
            args = [jnp.asarray(a) if isinstance(a, list) else a for a in args]
            kwargs = {k: jnp.asarray(v) if isinstance(v, list) else v for k, v in kwargs.items()}
            return value(*args, **kwargs)
        return call


def _jax_modules():
    jnp = importlib.import_module("jax.numpy")
    out = {name: _JaxShim(_module("jax." + name[len("fastad."):])) for name in _PUBLIC}
    out["numpy"] = _JaxShim(jnp, numpy)  # (numpy.convolve(a, b) in a case, numpy.array(...))
    return out


def _rebind(fun, modules):
    """fun's code with each module global it names replaced by modules[its name]
    (a function of fastad's API itself: the same name in the other module)."""
    if not isinstance(fun, types.FunctionType) or fun.__module__.startswith("fastad"):
        for name in _PUBLIC:
            module = _module(name)
            for attr in dir(module):
                if getattr(module, attr) is fun:
                    return getattr(modules[name], attr)
        raise AttributeError("no module to map %r to" % fun)
    g = dict(fun.__globals__)
    for key, value in fun.__globals__.items():
        if isinstance(value, types.ModuleType) and value.__name__ in modules:
            g[key] = modules[value.__name__]
    out = types.FunctionType(fun.__code__, g, fun.__name__, fun.__defaults__, fun.__closure__)
    out.__kwdefaults__ = fun.__kwdefaults__
    return out


# -- which cases accept complex input (NumPy and SciPy decide) ----------------------------

def _rng(*key):
    return numpy.random.default_rng(zlib.crc32(repr(key).encode()))


def _arguments(case, shapes, mask, dtype=numpy.complex128, key=0):
    """The case's arguments: complex where `mask` says, else real (test_ops's domains)."""
    rng = _rng(case.id, shapes, mask, key)
    real_dtype = numpy.float32 if dtype == numpy.complex64 else numpy.float64
    return [csample(rng, d, s, dtype) if c else sample(rng, d, s, real_dtype)
            for d, s, c in zip(case.domains, shapes, mask)]


def _reference(case):
    """The plain function: the case's own reference, else the case's code with
    NumPy's and SciPy's modules in place of fastad's -- unless that refuses real
    input too (an option only fastad has): then fastad's function on plain input."""
    if case.reference is not None:
        return case.reference
    plain = _rebind(case.fun, _plain_modules())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain(*_arguments(case, case.shapes[0], (False,) * len(case.domains)))
    except Exception:  # noqa: BLE001 (not NumPy's function)
        return case.fun
    return plain


def _accepts(reference, args):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reference(*args)
    except (TypeError, ValueError):
        return False
    return True


def _probe(case):
    """The masks of complex arguments that the plain function accepts: all of
    them, else each alone."""
    reference = _reference(case)
    n = len(case.domains)
    every = (True,) * n
    if _accepts(reference, _arguments(case, case.shapes[0], every)):
        return [every]
    alone = [tuple(i == k for i in range(n)) for k in range(n)] if n > 1 else []
    return [m for m in alone if _accepts(reference, _arguments(case, case.shapes[0], m))]


# Where SciPy refuses complex input but fastad takes it on purpose: its own
# value (checked by the regressions below) is the reference.
BEYOND_SCIPY = {
    "special:polygamma": "the derivative of complex digamma, gamma and rgamma",
    "extra:expit": "1 / (1 + exp(-z)), JAX's expit of complex z",
}

Variant = collections.namedtuple("Variant", "case shapes mask")
VARIANTS, REFUSED = [], []
for _case in CASES:
    if _case.id in EXCLUDED:
        continue
    _masks = _probe(_case)
    if not _masks and _case.id in BEYOND_SCIPY:
        _case = _case._replace(reference=_case.fun)
        _masks = [(True,) * len(_case.domains)]
    if not _masks:
        REFUSED.append(_case)
    for _mask in _masks:
        for _shapes in _case.shapes:
            VARIANTS.append(Variant(_case, tuple(_shapes), _mask))


def _variant_id(v):
    mask = "" if all(v.mask) else " complex %s" % [i for i, c in enumerate(v.mask) if c]
    return "%s %s%s" % (v.case.id, list(v.shapes), mask)


# -- central differences of the real Jacobian ---------------------------------------------

def _random_like(rng, value):
    """A random cotangent or tangent of value's shape and dtype."""
    value = numpy.asarray(value)
    r = rng.standard_normal(value.shape)
    if value.dtype.kind == "c":
        r = r + 1j * rng.standard_normal(value.shape)
    return numpy.asarray(r, value.dtype)


def _vjp_expected(J, c, args):
    """conj(J^T conj(c)): the transpose of the derivative applied to c."""
    return [numpy.conj(g) for g in _unpack(J.T @ _pack(numpy.conj(c)), args)]


def _assert_close(got, want, rtol, what):
    """rtol relative to each array's largest element (at least 1)."""
    if not isinstance(want, (tuple, list)):
        got, want = [got], [want]
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        w = numpy.asarray(w)
        s = max(1.0, float(numpy.max(numpy.abs(w), initial=0.0)))
        numpy.testing.assert_allclose(numpy.asarray(g), w, rtol=rtol, atol=rtol * s,
                                      err_msg=what)


# Cases whose value fastad computes with a formula of its own (SciPy's logsumexp
# takes log1p of the sum without its largest term; softmax and log_softmax are
# fastad's shifted logsumexp), or whose plain code uses NumPy's
# scalar arithmetic where fastad's traced 0-d values use the ufunc loops (which
# round a complex product differently): 1e-13 instead of bit for bit.
_OWN_FORMULA = "fastad's own formula (the largest term shifted out), not SciPy's"
VALUE_NOT_BITWISE = {
    "extra:logsumexp": _OWN_FORMULA, "extra:logsumexp-keepdims": _OWN_FORMULA,
    "scipy_more:logsumexp(b)": _OWN_FORMULA, "scipy_special:logsumexp_weighted": _OWN_FORMULA,
    "scipy_special:logsumexp_weighted-negative": _OWN_FORMULA,
    "special:log_softmax": _OWN_FORMULA, "special:softmax": _OWN_FORMULA,
    "join:array-of-scalars": "a[0] * b[1]: NumPy's complex scalar product, not its ufunc's",
}


def _assert_value(case, out, value):
    """NumPy's value bit for bit, where fastad calls the same NumPy function;
    else (VALUE_NOT_BITWISE, with the reason) to 1e-13."""
    if case.id in VALUE_NOT_BITWISE:
        _assert_close(out, value, 1e-13, "value")
    else:
        numpy.testing.assert_array_equal(out, value, err_msg="value (bit for bit)")


def _vjp_function(f, c):
    def vjp_of(*xs):
        return fd.vjp(f, *xs)[1](c)
    return vjp_of


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_against_central_differences(variant):
    """complex128: value, VJP, JVP and the JVP of the VJP function."""
    case, shapes, mask = variant
    f, reference = case.fun, _reference(case)
    args = _arguments(case, shapes, mask)
    rng = _rng(case.id, shapes, "directions")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numpy.exceptions.ComplexWarning)  # (astype to float)
        value = reference(*args)
        out, vjp_fun = fd.vjp(f, *args)
        _assert_value(case, out, value)
        J = _jacobian(reference, args)
        c = _random_like(rng, value)
        grads = vjp_fun(c)
        _assert_close(grads, _vjp_expected(J, c, args), 1e-6, "VJP")
        for g, a in zip(grads, args):
            assert numpy.result_type(g) == a.dtype, "VJP dtype"
        tangents = [_random_like(rng, a) for a in args]
        _, t_out = fd.jvp(f, tuple(args), tuple(tangents))
        assert numpy.result_type(t_out) == numpy.result_type(value), "JVP dtype"
        _assert_close(_pack(t_out), J @ _pack(tangents), 1e-6, "JVP")
        # order 2: the JVP of the VJP function (a function of the primals, c fixed)
        vjp_of = _vjp_function(f, c)
        J2 = _jacobian(vjp_of, args)
        _, t2 = fd.jvp(vjp_of, tuple(args), tuple(tangents))
        _assert_close(_pack(t2), J2 @ _pack(tangents), 1e-6, "JVP of the VJP")


@pytest.mark.parametrize("variant", VARIANTS, ids=_variant_id)
def test_complex64(variant):
    """complex64 (and float32) inputs keep NumPy's value dtype and their own
    dtypes in the derivatives, matching complex128's to complex64 accuracy."""
    case, shapes, mask = variant
    f, reference = case.fun, _reference(case)
    args = _arguments(case, shapes, mask, numpy.complex64)
    wide = [a.astype(numpy.complex128 if a.dtype.kind == "c" else numpy.float64) for a in args]
    rng = _rng(case.id, shapes, "directions 64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numpy.exceptions.ComplexWarning)
        value = numpy.asarray(reference(*args))
        out, vjp_fun = fd.vjp(f, *args)
        assert numpy.result_type(out) == value.dtype, "value dtype"
        # (against complex128's: NumPy's interp drops the imaginary part of a
        # complex64 scalar `left`, with a ComplexWarning)
        _assert_close(out, reference(*wide), 2e-5, "value")
        c = _random_like(rng, value)
        grads = vjp_fun(c)
        for g, a in zip(grads, args):
            assert numpy.result_type(g) == a.dtype, "VJP dtype"
        _assert_close(grads, fd.vjp(f, *wide)[1](c.astype(numpy.result_type(c, numpy.float64))),
                      1e-4, "VJP against complex128's")
        tangents = [_random_like(rng, a) for a in args]
        _, t_out = fd.jvp(f, tuple(args), tuple(tangents))
        assert numpy.result_type(t_out) == value.dtype, "JVP dtype"
        wide_t = [t.astype(w.dtype) for t, w in zip(tangents, wide)]
        _assert_close(t_out, fd.jvp(f, tuple(wide), tuple(wide_t))[1], 1e-4,
                      "JVP against complex128's")


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_fastad_refuses_complex_input_where_numpy_does(case):
    """No silent answer (a real one, say, dropping the imaginary parts) where
    NumPy or SciPy refuse complex input."""
    args = _arguments(case, case.shapes[0], (True,) * len(case.domains))
    with pytest.raises((TypeError, ValueError)):
        fd.vjp(case.fun, *args)


# -- against JAX ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def jax():
    jax_module = pytest.importorskip("jax")
    jax_module.config.update("jax_enable_x64", True)
    return jax_module


# (one shape of each case: the second shapes test fastad's broadcasting, which the
# central differences above check, and JAX's dispatch on each new shape is slow)
JAX_VARIANTS = [v for v in VARIANTS if v.shapes == tuple(v.case.shapes[0])]


def _jax_results(jax, g, args, c, tangents):
    """JAX's value, VJP of c, gradient of sum(f c) (None for complex output), JVP of
    the tangents and JVP of the VJP function, all in one function."""
    def results(args, c, tangents):
        value, vjp = jax.vjp(g, *args)
        grads = vjp(c)
        summed = None
        if not jax.numpy.iscomplexobj(value):
            summed = jax.grad(lambda *xs: jax.numpy.sum(g(*xs) * c),
                              tuple(range(len(args))))(*args)
        t_out = jax.jvp(g, tuple(args), tuple(tangents))[1]
        t2 = jax.jvp(lambda *xs: jax.vjp(g, *xs)[1](c), tuple(args), tuple(tangents))[1]
        return value, grads, summed, t_out, t2
    try:  # (compiled once: JAX's op-by-op dispatch is slower)
        return jax.jit(results)(args, c, tangents)
    except Exception:  # noqa: BLE001 (a shape from a value: repeat(x, [1, 0, 3]), x[mask])
        return results(args, c, tangents)


@pytest.mark.parametrize("dtype", [numpy.complex128, numpy.complex64])
@pytest.mark.parametrize("variant", JAX_VARIANTS, ids=_variant_id)
def test_against_jax(variant, dtype, jax):
    """The same code with jax.numpy and jax.scipy in place of fastad's modules:
    value, VJP (and jax.grad of a real-valued function), JVP and the JVP of the
    VJP function."""
    case, shapes, mask = variant
    f = case.fun
    args = _arguments(case, shapes, mask, dtype)
    rtol = 1e-12 if dtype == numpy.complex128 else 2e-5
    rng = _rng(case.id, shapes, "jax", dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", numpy.exceptions.ComplexWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # (JAX's complex to real astype)
        value, vjp_fun = fd.vjp(f, *args)
        c = _random_like(rng, value)
        tangents = [_random_like(rng, a) for a in args]
        try:
            g = _rebind(f, _jax_modules())
            try:
                j_dtype = jax.eval_shape(g, *args).dtype
            except Exception:  # noqa: BLE001 (as in _jax_results)
                j_dtype = g(*args).dtype
            j_c = numpy.asarray(c, j_dtype)
            j_value, j_grads, j_summed, j_t, j_t2 = _jax_results(jax, g, args, j_c, tangents)
        except (AttributeError, TypeError, ValueError, NotImplementedError, IndexError) as exc:
            pytest.skip("JAX has no such function of complex input: %s: %s"
                        % (type(exc).__name__, str(exc).splitlines()[0][:200]))
        _assert_close(value, j_value, rtol, "value")
        _assert_close(vjp_fun(c), j_grads, rtol, "VJP")
        if j_summed is not None:  # jax.grad of a real-valued function
            argnums = tuple(range(len(args)))
            _assert_close(fd.grad(lambda *xs: fnp.sum(f(*xs) * c), argnums)(*args), j_summed,
                          rtol, "grad")
        _assert_close(fd.jvp(f, tuple(args), tuple(tangents))[1], j_t, rtol, "JVP")
        t2 = fd.jvp(_vjp_function(f, c), tuple(args), tuple(tangents))[1]
        _assert_close(t2, j_t2, rtol * 10, "JVP of the VJP")


# -- coverage: every registered op that accepts complex input ------------------------------

_LINALG = ("linear algebra: LINALG_CASES (and tests/test_scipy_linalg.py's solvers) are left "
           "out here while src/fastad/ops/linalg.py gains its complex rules; tests/test_complex.py "
           "checks those that exist")
_FFT = "tests/test_complex.py's FFT_CASES (central differences and JAX)"
_ELSEWHERE = {"fastad.ops.linalg": _LINALG, "fastad.ops.matrix_equations": _LINALG,
              "numpy.linalg": _LINALG, "fastad.ops.fourier": _FFT}


def _not_covered_here():
    """Registered ops that this test leaves to others, by the module of their
    implementation (so that a new linear-algebra op is named here too), with the reason."""
    out = {"fused": "fused programs are of float64 arrays only: complex arithmetic records "
                    "op by op",
           "atleast_1d": "no fastad function records it (tests/test_ops.py leaves it out too)"}
    for name, prim in REGISTRY.items():
        module = getattr(prim.fun, "__module__", None)
        if module in _ELSEWHERE:
            out[name] = _ELSEWHERE[module]
        elif name.startswith("scipy.fft."):
            out[name] = _FFT
    return out


def _recorded(fun, args):
    """The registry names of the primitives that fun records on args (op by
    op: a fused program would hide the real-valued operations it holds)."""
    previous = fd._tape.set_fusion_threshold(-1)
    try:
        tape = fd.record(fun, *args, guard_kinks=False)
    finally:
        fd._tape.set_fusion_threshold(previous)
    return {tape._tape.node(i)[0] for i in range(len(tape._tape))} & set(REGISTRY)


def _coverage():
    """(ops reached with complex input, by the function or its VJP; ops reached only
    by cases NumPy refuses complex input to; ops reached only by excluded cases)."""
    covered, refused, excluded = set(), set(), set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case, shapes, mask in VARIANTS:
            args = _arguments(case, shapes, mask)
            value = _reference(case)(*args)
            c = _random_like(_rng(case.id, "coverage"), value)
            covered |= _recorded(case.fun, args) | _recorded(_vjp_function(case.fun, c), args)
        for case in CASES:
            if case in REFUSED or case.id in EXCLUDED:
                args = _arguments(case, case.shapes[0], (False,) * len(case.domains))
                (refused if case in REFUSED else excluded).update(_recorded(case.fun, args))
    return covered, refused - covered, excluded - covered - refused


def test_every_op_accepting_complex_input_is_covered():
    if scipy_special is None:
        pytest.skip("scipy.special's cases need SciPy")
    covered, refused, excluded = _coverage()
    differentiable = {name for name, p in REGISTRY.items() if p.differentiable}
    elsewhere = _not_covered_here()
    missing = differentiable - covered - refused - excluded - set(elsewhere)
    assert not missing, ("registered ops that no case reaches with complex input (add a case, or "
                         "say in _not_covered_here why not): %s" % sorted(missing))
    assert "fused" not in covered


# -- regressions: the bugs the systematic test found -------------------------------------

def _central_vjp(f, z, c, eps=1e-6):
    """conj(J^T conj(c)) of f at complex array z by central differences."""
    return _vjp_expected(_jacobian(f, [z], eps), c, [z])[0]


def test_cov_and_corrcoef_of_complex_input_conjugate_as_numpy():
    # cov was X X^T (not X X^H) on traced complex input, and corrcoef divided by
    # the square roots of a complex diagonal and clipped lexicographically
    x = numpy.array([[1 + 2j, 0.5 - 1j, 2 + 0j], [0.3 + 0.1j, -1 + 1j, 1 - 2j]])
    for f in (fnp.cov, fnp.corrcoef):
        out, vjp_fun = fd.vjp(f, x)
        numpy.testing.assert_array_equal(out, f(x))  # NumPy's (0.475+1.925j, not 0.975-0.425j)
        c = _random_like(_rng("cov"), out)
        numpy.testing.assert_allclose(vjp_fun(c)[0], _central_vjp(f, x, c), rtol=1e-7, atol=1e-8)


def test_interp_takes_a_complex_left_from_a_traced_scalar():
    # NumPy's check was called with a 0-d complex array for `left` (TypeError)
    f = numpy.array([1 + 1j, 2 - 1j, 0.5j])
    x = numpy.array([-2.0, 0.5])
    fun = lambda f: fnp.interp(x, [0.0, 1.0, 2.0], f, left=f[1] * 2.0)  # noqa: E731
    out, vjp_fun = fd.vjp(fun, f)
    numpy.testing.assert_array_equal(out, [4 - 2j, 1.5 + 0j])
    c = numpy.array([1 - 1j, 2 + 0.5j])
    # (f[0] and f[1] interpolate 0.5; left is 2 f[1])
    numpy.testing.assert_allclose(vjp_fun(c)[0],
                                  [0.5 * (2 + 0.5j), 2 * (1 - 1j) + 0.5 * (2 + 0.5j), 0])


def test_polygamma_of_complex_input_is_the_derivative_of_complex_digamma():
    # SciPy's polygamma takes real x only: the derivative of complex digamma, and the
    # second of gamma and rgamma, were TypeErrors ('_zeta' not supported)
    z = 0.7 + 0.4j
    assert fd.grad(fsp.digamma, holomorphic=True)(z) == pytest.approx(
        1.5084400307103747 - 1.5481586477547291j, rel=1e-14)  # mpmath.psi(1, z)
    second = fd.grad(fd.grad(fsp.gamma, holomorphic=True), holomorphic=True)(z)
    assert second == pytest.approx(-0.07055009776503395 - 3.538514389644073j, rel=1e-13)
    mpmath = pytest.importorskip("mpmath")
    zs = numpy.array([0.3 + 0.01j, 2.5 - 7j, 19.9 + 0.1j, -2.5 + 0.1j, 40j])
    for n in range(4):
        want = [complex(mpmath.polygamma(n, complex(v))) for v in zs]
        numpy.testing.assert_allclose(fsp.polygamma(n, zs), want, rtol=5e-14)
    assert fsp.polygamma(1, zs.astype(numpy.complex64)).dtype == numpy.complex64


def test_ive_of_complex_input_differentiates_its_exp_minus_abs_re_factor():
    # ive(v, z) = iv(v, z) exp(-|Re z|) is not holomorphic: the rule multiplied the
    # cotangent by (iv' - sign(z) iv) exp(-|Re z|), with NumPy's complex sign z / |z|
    # (0.1572-0.0242j where central differences give 0.1121+0.0723j)
    z = numpy.array([0.7 + 0.4j, -1.2 - 0.3j])
    f = lambda z: fsp.ive(1.5, z)  # noqa: E731
    c = numpy.array([1.0 + 0j, 0.3 - 2j])
    numpy.testing.assert_allclose(fd.vjp(f, z)[1](c)[0], _central_vjp(f, z, c), rtol=1e-8)
    t = numpy.array([0.5 - 1j, 1j])
    J = _jacobian(f, [z])
    numpy.testing.assert_allclose(_pack(fd.jvp(f, (z,), (t,))[1]), J @ _pack(t), rtol=1e-8)


def test_expit_of_complex_input_is_holomorphic():
    # on complex z its two branches ordered z and took |z|: 0.887+0j where JAX's
    # expit (SciPy's refuses complex input) is 1 / (1 + exp(-z)) = 0.866+0.639j
    z = numpy.array([0.5 + 2j, -1 - 0.5j])
    numpy.testing.assert_allclose(fsp.expit(z), 1 / (1 + numpy.exp(-z)), rtol=1e-15)
    assert fsp.expit(z.astype(numpy.complex64)).dtype == numpy.complex64
    numpy.testing.assert_allclose(fd.vjp(fsp.expit, z)[1](numpy.ones(2, complex))[0],
                                  numpy.exp(-z) / (1 + numpy.exp(-z)) ** 2, rtol=1e-14)


def test_gammainc_a_derivative_refuses_complex_input():
    # (it dropped the imaginary parts)
    with pytest.raises(TypeError, match="real a and x"):
        REGISTRY["gammainc_a_derivative"](1, numpy.array([1.5 + 1j]), numpy.array([2.0]))


def test_complex_logsumexp_is_scipy_s():
    # the imaginary part was not wrapped to (-pi, pi] (3.518 for SciPy's and JAX's
    # -2.765); with weights, the value was log|s| plus the complex shift, the sign
    # that of the shifted sum, the derivative conjugated; return_sign gave a complex
    # first value
    scipy_special = pytest.importorskip("scipy.special")
    a = numpy.array([1 + 3.5j, -2.0 + 0j])
    b = numpy.array([1 + 1j, 2 - 1j])
    numpy.testing.assert_allclose(fsp.logsumexp(a), scipy_special.logsumexp(a), rtol=1e-15)
    numpy.testing.assert_allclose(fsp.logsumexp(a, b=b), scipy_special.logsumexp(a, b=b),
                                  rtol=1e-15)
    for kwargs in ({}, {"b": b}):
        out, sign = fsp.logsumexp(a, return_sign=True, **kwargs)
        want_out, want_sign = scipy_special.logsumexp(a, return_sign=True, **kwargs)
        assert numpy.isrealobj(out)
        numpy.testing.assert_allclose([out, sign], [want_out, want_sign], rtol=1e-15)
    # d/da log(sum(b e^a)) = b e^a / sum(b e^a)
    s = numpy.sum(b * numpy.exp(a))
    numpy.testing.assert_allclose(fd.grad(lambda a: fsp.logsumexp(a, b=b), holomorphic=True)(a),
                                  b * numpy.exp(a) / s, rtol=1e-14)
    # d/da log|sum(b e^a)|: the gradient of a real function, (df/dx - i df/dy)
    g = fd.grad(lambda a: fsp.logsumexp(a, b=b, return_sign=True)[0])(a)
    numpy.testing.assert_allclose(g, b * numpy.exp(a) / s, rtol=1e-14)
