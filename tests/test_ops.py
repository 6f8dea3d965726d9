"""The systematic op test: every registered op through value and VJP checks
against central differences, over shapes (0-d to 3-d, broadcasting pairs,
empty), dtypes (float64 and float32) and each op's safe domain.  Adding an
op adds a line of test data here, not a new test."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
import fastad.scipy.special as fsp
import fastad.scipy.signal as fss
from fastad.ops import REGISTRY

@pytest.fixture(autouse=True, params=["unfused", "fused"])
def drop_every_residual(request):
    """Every rule here runs with the tape keeping only what its `saves`
    declares, whatever the array size (by default only large arrays are
    dropped), so a wrong declaration fails these tests.  Every test runs
    twice: as recorded op by op, and with arithmetic on float64 arrays of
    any size fused into programs (by default only large arrays fuse), so
    that fusion is checked against the same references."""
    previous = fd._tape.set_residual_threshold(0)
    fusion = fd._tape.set_fusion_threshold(0 if request.param == "fused" else -1)
    yield
    fd._tape.set_residual_threshold(previous)
    fd._tape.set_fusion_threshold(fusion)


# -- domains: where each op is smooth ----------------------------------------

DOMAINS = {
    "real": lambda rng, shape: rng.standard_normal(shape),
    "positive": lambda rng, shape: rng.uniform(0.5, 2.0, shape),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, shape),
    "gt1": lambda rng, shape: rng.uniform(1.2, 3.0, shape),
    "nonzero": lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape),
}


def sample(rng, domain, shape, dtype=numpy.float64):
    return numpy.asarray(DOMAINS[domain](rng, shape), dtype=dtype)


UNARY = {  # fastad.numpy name: (domain, NumPy reference)
    "negative": "real", "absolute": "nonzero", "square": "real", "sqrt": "positive",
    "cbrt": "nonzero", "reciprocal": "nonzero", "exp": "real", "exp2": "real",
    "expm1": "real", "log": "positive", "log1p": "positive", "log2": "positive",
    "log10": "positive", "sin": "real", "cos": "real", "tan": "unit",
    "arcsin": "unit", "arccos": "unit", "arctan": "real", "sinh": "real",
    "cosh": "real", "tanh": "real", "arcsinh": "real", "arccosh": "gt1",
    "arctanh": "unit", "fabs": "nonzero", "deg2rad": "real", "rad2deg": "real",
    "positive": "real", "sinc": "nonzero", "nan_to_num": "real",
}
BINARY = {
    "add": ("real", "real"), "subtract": ("real", "real"),
    "multiply": ("real", "real"), "true_divide": ("real", "nonzero"),
    "power": ("positive", "real"), "maximum": ("real", "real"),
    "minimum": ("real", "real"), "arctan2": ("nonzero", "nonzero"),
    "hypot": ("nonzero", "nonzero"), "mod": ("positive", "positive"),
    "logaddexp": ("real", "real"), "logaddexp2": ("real", "real"),
    "fmax": ("real", "real"), "fmin": ("real", "real"), "fmod": ("real", "positive"),
}
UNARY_SHAPES = [(), (3,), (2, 3), (2, 3, 4), (0,), (2, 0)]
BINARY_SHAPES = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)),
                 ((2, 3, 4), (3, 1)), ((), (2, 3)), ((4,), ()), ((0,), (0,)),
                 ((2, 0), (1, 0))]


def check_op(fun, args, rtol=1e-6, atol=1e-7):
    """Value of the traced call equals the plain call, then VJPs against
    central differences for every argument, to second order (the VJP
    function differentiated again by nesting)."""
    plain = fun(*args)
    seen = {}

    def record(*xs):
        out = fun(*xs)
        seen["value"] = fd.core.plain(out)
        return out
    fd.make_vjp(record, tuple(range(len(args))))(*args)
    numpy.testing.assert_array_equal(seen["value"], plain)
    fd.check_grads(fun, *args, modes=("fwd", "rev"), order=2, rtol=rtol, atol=atol)
    # the gradient of a sum: the numeric sweep's unexpanded (lazy) cotangents
    if all(numpy.size(a) for a in args):
        total = lambda *xs: fnp.sum(fun(*xs))  # noqa: E731
        grads = fd.grad(total, tuple(range(len(args))))(*args)
        for k, g in enumerate(grads):
            numeric = fd.numerical_grad(
                lambda a, k=k: numpy.sum(fun(*args[:k], a, *args[k + 1:])), args[k])
            numpy.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-6,
                                          err_msg="gradient of the sum, argument %d" % k)
    check_replay(fun, args)


def check_replay(fun, args):
    """A tape of a weighted sum of `fun` recorded at `args` and replayed at a
    second point gives the traced value and gradient there, bit for bit:
    the lowered replay of recorded tapes (plan.pxi) against the trace."""
    plain = numpy.asarray(fun(*args))
    if plain.dtype != numpy.float64 or not all(numpy.size(a) for a in args):
        return
    weights = numpy.linspace(0.5, 1.5, plain.size).reshape(plain.shape)
    total = lambda *xs: fnp.sum(fun(*xs) * weights)  # noqa: E731
    argnums = tuple(range(len(args)))
    tape = fd.record(total, *args)
    second = [a * (1.0 + 1e-3) + 1e-4 for a in args]
    second = [numpy.asarray(b) if isinstance(a, numpy.ndarray) else b  # (0-d stays an array)
              for a, b in zip(args, second)]
    try:
        value, grads = tape.value_and_grad(*second)
    except fd.RetapeRequired:
        return  # (a recorded decision flips at the second point)
    # (traced with every residual kept, as a recorded tape keeps them: the
    # fixture's dropped residuals turn C steps reading them into rules,
    # whose libm and NumPy functions may differ in the last bit)
    previous = fd._tape.set_residual_threshold(1 << 40)
    try:
        traced_value, traced = fd.value_and_grad(total, argnums)(*second)
    finally:
        fd._tape.set_residual_threshold(previous)
    assert value == traced_value
    grads = grads if len(args) > 1 else (grads,)
    for k, (g, t) in enumerate(zip(grads, traced)):
        numpy.testing.assert_array_equal(g, t, err_msg="replayed gradient, argument %d" % k)


def check_float32(fun, args):
    """float32 inputs give float32 outputs and gradients, matching the float64
    gradient to float32 accuracy."""
    args32 = [a.astype(numpy.float32) for a in args]
    args64 = [a.astype(numpy.float64) for a in args32]
    argnums = tuple(range(len(args)))
    loss = lambda *xs: fnp.sum(fun(*xs) * 0.5)  # noqa: E731
    g32 = fd.grad(loss, argnums)(*args32)
    g64 = fd.grad(loss, argnums)(*args64)
    assert numpy.asarray(fun(*args32)).dtype == numpy.float32
    for a, b in zip(g32, g64):
        assert a.dtype == numpy.float32
        numpy.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, shape, rng):
    fun = getattr(fnp, name)
    x = sample(rng, UNARY[name], shape)
    numpy.testing.assert_array_equal(fun(x), getattr(numpy, name)(x))
    check_op(fun, [x])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_float32(name, rng):
    check_float32(getattr(fnp, name), [sample(rng, UNARY[name], (2, 3))])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_scalar_fast_path(name, rng):
    """On Python floats the op runs through the C kernel: same value as NumPy
    on float64 to the last few ulps, derivative against central differences."""
    fun = getattr(fnp, name)
    x = float(sample(rng, UNARY[name], ()))
    value, g = fd.value_and_grad(fun)(x)
    assert isinstance(value, float) and isinstance(g, float)
    numpy.testing.assert_allclose(value, getattr(numpy, name)(x), rtol=4e-16, atol=0)
    numpy.testing.assert_allclose(g, fd.numerical_grad(fun, x), rtol=1e-7, atol=1e-9)
    # and the same rule through the array path
    numpy.testing.assert_allclose(fd.grad(lambda a: fnp.sum(fun(a)))(numpy.array([x])), [g],
                                  rtol=1e-14)
    # second order: the C kernel's result differentiated by the recorded sweep
    fd.check_grads(fun, x, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("shapes", BINARY_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, shapes, rng):
    fun = getattr(fnp, name)
    dx, dy = BINARY[name]
    x, y = sample(rng, dx, shapes[0]), sample(rng, dy, shapes[1])
    numpy.testing.assert_array_equal(fun(x, y), getattr(numpy, name)(x, y))
    check_op(fun, [x, y])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_float32(name, rng):
    dx, dy = BINARY[name]
    check_float32(getattr(fnp, name), [sample(rng, dx, (2, 3)), sample(rng, dy, (3,))])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_scalar_fast_path(name, rng):
    fun = getattr(fnp, name)
    dx, dy = BINARY[name]
    x, y = float(sample(rng, dx, ())), float(sample(rng, dy, ()))
    gx, gy = fd.grad(fun, (0, 1))(x, y)
    nx = fd.numerical_grad(lambda a: fun(a, y), x)
    ny = fd.numerical_grad(lambda b: fun(x, b), y)
    numpy.testing.assert_allclose([gx, gy], [nx, ny], rtol=1e-7, atol=1e-9)
    # with one operand a constant (the *C opcodes and constant leaves)
    numpy.testing.assert_allclose(fd.grad(lambda a: fun(a, y))(x), gx, rtol=1e-15)
    numpy.testing.assert_allclose(fd.grad(lambda b: fun(x, b))(y), gy, rtol=1e-15)
    fd.check_grads(fun, x, y, modes=("fwd", "rev"), order=2)
    fd.check_grads(lambda a: fun(a, y), x, modes=("fwd", "rev"), order=2)
    fd.check_grads(lambda b: fun(x, b), y, modes=("fwd", "rev"), order=2)


# -- reductions ----------------------------------------------------------------

REDUCTIONS = ["sum", "mean", "prod", "max", "min"]
AXES = [((3,), None), ((2, 3), None), ((2, 3), 0), ((2, 3), -1), ((2, 3, 4), (0, 2)),
        ((2, 3, 4), 1), ((0,), None), ((2, 0), 1)]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape_axis", AXES, ids=str)
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction(name, shape_axis, keepdims, rng):
    shape, axis = shape_axis
    if name in ("max", "min", "mean") and 0 in shape:
        pytest.skip("max/min of an empty array is an error in NumPy, mean is nan")
    fun = lambda x: getattr(fnp, name)(x, axis=axis, keepdims=keepdims)  # noqa: E731
    x = sample(rng, "positive" if name == "prod" else "real", shape)
    numpy.testing.assert_array_equal(fun(x), getattr(numpy, name)(x, axis=axis, keepdims=keepdims))
    check_op(fun, [x])


@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_float32(name, rng):
    check_float32(lambda x: getattr(fnp, name)(x, axis=0), [sample(rng, "positive", (3, 2))])


def test_prod_with_zeros():
    x = numpy.array([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    g = fd.grad(lambda x: fnp.sum(fnp.prod(x, axis=1)))(x)
    numpy.testing.assert_array_equal(g, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [6.0, 3.0, 2.0]])


def test_max_ties_split_evenly():
    g = fd.grad(lambda x: fnp.max(x))(numpy.array([1.0, 3.0, 3.0, 2.0]))
    numpy.testing.assert_array_equal(g, [0.0, 0.5, 0.5, 0.0])
    assert fd.grad(lambda x: fnp.maximum(x, x))(2.0) == 1.0
    numpy.testing.assert_array_equal(
        fd.grad(lambda x: fnp.sum(fnp.maximum(x, 1.0)))(numpy.array([0.0, 1.0, 2.0])), [0, 0.5, 1])


# -- shape, indexing, joining ----------------------------------------------------

SHAPE_CASES = [
    ("reshape", lambda x: fnp.reshape(x, (3, 2)), (2, 3)),
    ("reshape-1", lambda x: fnp.reshape(x, -1), (2, 3, 4)),
    ("ravel", fnp.ravel, (2, 3)),
    ("transpose", fnp.transpose, (2, 3, 4)),
    ("transpose-axes", lambda x: fnp.transpose(x, (1, 2, 0)), (2, 3, 4)),
    ("T", lambda x: x.T, (2, 3)),
    ("swapaxes", lambda x: fnp.swapaxes(x, 0, 2), (2, 3, 4)),
    ("moveaxis", lambda x: fnp.moveaxis(x, 0, -1), (2, 3, 4)),
    ("squeeze", fnp.squeeze, (1, 3, 1)),
    ("squeeze-axis", lambda x: fnp.squeeze(x, 0), (1, 3)),
    ("expand_dims", lambda x: fnp.expand_dims(x, 1), (2, 3)),
    ("broadcast_to", lambda x: fnp.broadcast_to(x, (4, 2, 3)), (2, 1)),
    ("getitem-int", lambda x: x[1], (3, 2)),
    ("getitem-slice", lambda x: x[1:, ::2], (3, 4)),
    ("getitem-negative", lambda x: x[-1, ..., None], (3, 2, 2)),
    ("getitem-intarray", lambda x: x[numpy.array([0, 2, 0])], (3, 2)),
    ("getitem-list", lambda x: x[[1, 1, 0]], (3,)),
    ("getitem-mask", lambda x: x[numpy.array([True, False, True])], (3,)),
    ("getitem-scalar", lambda x: x[1, 0], (2, 2)),
    ("getitem-empty", lambda x: x[2:2], (3,)),
    ("iterate", lambda x: fnp.stack([r * 2.0 for r in x]), (3, 2)),
    ("astype", lambda x: x.astype(numpy.float64), (2,)),
    ("method-sum", lambda x: x.sum(axis=1), (2, 3)),
    ("method-reshape", lambda x: x.reshape(3, 2), (2, 3)),
    ("method-transpose", lambda x: x.transpose(1, 0), (2, 3)),
]


@pytest.mark.parametrize("case", SHAPE_CASES, ids=lambda c: c[0])
def test_shape_ops(case, rng):
    _, fun, shape = case
    check_op(fun, [sample(rng, "real", shape)])


JOIN_CASES = [
    ("concatenate", lambda a, b: fnp.concatenate([a, b]), (2, 3), (1, 3)),
    ("concatenate-axis1", lambda a, b: fnp.concatenate([a, b, a], axis=1), (2, 3), (2, 1)),
    ("concatenate-none", lambda a, b: fnp.concatenate([a, b], axis=None), (2, 2), (3,)),
    ("stack", lambda a, b: fnp.stack([a, b]), (2, 3), (2, 3)),
    ("stack-axis-1", lambda a, b: fnp.stack([a, b, a], axis=-1), (3,), (3,)),
    ("array-of-scalars", lambda a, b: fnp.array([a[0] * b[1], b[0], a[1]]), (2,), (2,)),
    ("where", lambda a, b: fnp.where(a > 0, a, b), (2, 3), (3,)),
    ("clip", lambda a, b: fnp.clip(a, -0.5, 0.5) + b, (4,), (4,)),
    ("insert", lambda a, b: fnp.insert(a, [0, 2], b, axis=1), (2, 3), (2,)),
    ("insert-flat", lambda a, b: fnp.insert(a, 3, b), (2, 3), (2,)),
    ("block", lambda a, b: fnp.block([a, b]), (2, 3), (2, 1)),
    ("append-list", lambda a, b: fnp.append([a, b], b), (2,), (2,)),
    ("interp", lambda x, f: fnp.interp(x, [-1.0, -0.2, 0.5, 1.5], f, left=f[1] * 2.0), (3, 2),
     (4,)),
    ("convolve", lambda a, b: fnp.convolve(a, b), (5,), (3,)),
    ("convolve-same", lambda a, b: fnp.convolve(a, b, "same"), (3,), (4,)),
    ("convolve-valid", lambda a, b: numpy.convolve(a, b, "valid"), (5,), (2,)),
    ("signal.convolve-same", lambda a, b: fss.convolve(a, b, "same"), (4, 3), (2, 2)),
    ("signal.convolve-valid", lambda a, b: fss.convolve(a, b, "valid"), (2, 3), (3, 4)),
    ("signal.convolve-axes", lambda a, b: fss.convolve(a, b, axes=([1], [0]), dot_axes=([0], [1])),
     (3, 4), (2, 3)),
    ("pad-constant-values", lambda a, b: fnp.pad(a, ((1, 0), (2, 1)), constant_values=b),
     (2, 3), (2,)),
]


@pytest.mark.parametrize("case", JOIN_CASES, ids=lambda c: c[0])
def test_join_ops(case, rng):
    _, fun, sa, sb = case
    check_op(fun, [sample(rng, "real", sa), sample(rng, "real", sb)])


def test_concatenate_with_constants(rng):
    x = sample(rng, "real", (2,))
    g = fd.grad(lambda x: fnp.sum(fnp.concatenate([numpy.ones(3), x * x])))(x)
    numpy.testing.assert_allclose(g, 2 * x)


COMPOSITE_CASES = [
    ("var", lambda x: fnp.var(x), (2, 3)),
    ("var-axis-ddof", lambda x: fnp.var(x, axis=1, ddof=1), (2, 3)),
    ("std", lambda x: fnp.std(x, axis=0, keepdims=True), (3, 2)),
    ("average", lambda x: fnp.average(x, axis=1, weights=numpy.array([1.0, 2.0, 3.0])), (2, 3)),
    ("average-plain", lambda x: fnp.average(x), (4,)),
    ("diff", lambda x: fnp.diff(x, n=2, axis=0), (4, 2)),
    ("repeat", lambda x: fnp.repeat(x, 2, axis=1), (2, 3)),
    ("repeat-array", lambda x: fnp.repeat(x, [1, 0, 3]), (3,)),
    ("tile", lambda x: fnp.tile(x, (2, 1, 2)), (2, 3)),
    ("flip", lambda x: fnp.flip(x, 1), (2, 3)),
    ("fliplr-flipud", lambda x: fnp.flipud(fnp.fliplr(x)), (2, 3)),
    ("roll", lambda x: fnp.roll(x, 2, axis=1), (2, 3)),
    ("roll-flat", lambda x: fnp.roll(x, -1), (2, 3)),
    ("rot90", lambda x: fnp.rot90(x) + fnp.rot90(x, 3).T, (3, 3)),
    ("triu-tril", lambda x: fnp.triu(x, 1) + fnp.tril(x, -1) * 2.0, (3, 4)),
    ("diagonal", lambda x: fnp.diagonal(x, 1), (3, 4)),
    ("trace", lambda x: fnp.trace(x), (3, 3)),
    ("diag-extract", lambda x: fnp.diag(x, -1), (3, 3)),
    ("diag-build", lambda x: fnp.diag(x, 1), (3,)),
    ("stacks", lambda x: fnp.vstack([x, x]) + fnp.hstack([x[:, :1], x[:, 1:]]).sum(), (2, 3)),
    ("dstack-column_stack", lambda x: fnp.dstack([x, x]).sum(axis=2) + fnp.column_stack([x[0], x[1]]).T,
     (2, 3)),
    ("atleast", lambda x: fnp.atleast_3d(x[0, 0]) + fnp.atleast_2d(x[0]).sum(), (2, 3)),
    ("split", lambda x: fnp.split(x, 3, axis=1)[1] * fnp.array_split(x, 2)[0], (2, 3)),
    ("pad-constant", lambda x: fnp.pad(x, ((1, 0), (2, 1))), (2, 3)),
    ("pad-reflect", lambda x: fnp.pad(x, 2, mode="reflect"), (3, 4)),
    ("pad-width-(3,)", lambda x: fnp.pad(x, (3,)), (2, 2)),  # (a ValueError once)
    ("pad-constant-pairs", lambda x: fnp.pad(x, 1, constant_values=((1.0, 2.0), (3.0, 4.0))),
     (2, 3)),
    ("pad-edge", lambda x: fnp.pad(x, ((1, 2), (0, 1)), mode="edge"), (2, 3)),
    ("pad-wrap", lambda x: fnp.pad(x, ((4, 1), (0, 2)), mode="wrap"), (2, 3)),
    ("pad-symmetric", lambda x: fnp.pad(x, 3, mode="symmetric"), (2, 3)),
    ("pad-reflect-odd", lambda x: fnp.pad(x, ((5, 2), (1, 3)), mode="reflect", reflect_type="odd"),
     (3, 2)),
    ("pad-symmetric-odd", lambda x: fnp.pad(x, (4, 1), mode="symmetric", reflect_type="odd"),
     (2, 3)),
    ("pad-linear_ramp", lambda x: fnp.pad(x, ((2, 1), (1, 2)), mode="linear_ramp",
                                          end_values=(1.0, -1.0)), (2, 3)),
    ("pad-mean", lambda x: fnp.pad(x, 2, mode="mean", stat_length=2), (3, 3)),
    ("pad-maximum", lambda x: fnp.pad(x, ((1, 0), (2, 1)), mode="maximum"), (3, 3)),
    ("pad-minimum", lambda x: fnp.pad(x, 1, mode="minimum", stat_length=(1, 2)), (3, 3)),
    ("pad-median", lambda x: fnp.pad(x, (1, 2), mode="median"), (4, 3)),
    ("rollaxis", lambda x: fnp.rollaxis(x, 2, 1), (2, 3, 4)),
    ("delete", lambda x: fnp.delete(x, [0, 2], axis=1), (2, 4)),
    ("insert-constant", lambda x: fnp.insert(x, [1, 1], 5.0, axis=0), (3, 2)),
    ("block", lambda x: fnp.block([[x, numpy.ones((2, 1))], [x[:1], x[1:, :1]]]), (2, 3)),
    ("quantile", lambda x: fnp.quantile(x, [0.1, 0.5, 1.0], axis=1), (2, 5)),
    ("quantile-axes", lambda x: fnp.quantile(x, 0.3, axis=(0, 2), keepdims=True), (3, 2, 2)),
    ("percentile", lambda x: fnp.percentile(x, 62.5), (3, 3)),
    ("cov", lambda x: fnp.cov(x), (2, 4)),
    ("cov-aweights", lambda x: fnp.cov(x, rowvar=False, aweights=[1.0, 2.0, 0.5, 1.5]), (4, 2)),
    ("corrcoef", lambda x: fnp.corrcoef(x), (3, 4)),
    ("mean-of-a-list", lambda x: fnp.mean([x[0], x[1] * 2.0]), (2,)),
    ("make_diagonal", lambda x: fnp.make_diagonal(x, axis1=-1, axis2=-2), (2, 3)),
    ("make_diagonal-offset", lambda x: fnp.make_diagonal(x, offset=1, axis1=0, axis2=2), (2, 3)),
    ("full", lambda x: fnp.full((2, 3), x[1]) * x, (3,)),
    ("full_like", lambda x: fnp.full_like(x, x[0, 1]) + fnp.zeros_like(x), (2, 3)),
    ("interp", lambda x: fnp.interp(x, [-1.0, -0.2, 0.5, 1.5], [0.3, -1.0, 2.0, 0.5]), (2, 5)),
    ("std-of-a-list", lambda x: fnp.std([x[0], x[1] * 2.0, 1.0]), (2,)),
    ("kron", lambda x: fnp.kron(x, x[:, :2]), (2, 3)),
    ("cross", lambda x: fnp.cross(x, x[::-1] ** 2), (2, 3)),
    ("sort", lambda x: fnp.sort(x, axis=0), (3, 2)),
    ("select", lambda x: fnp.select([x < -0.5, x > 0.5], [x * 2, x ** 2], x), (2, 3)),
    ("cumsum", lambda x: fnp.cumsum(x, axis=1), (2, 3)),
    ("cumsum-flat", lambda x: fnp.cumsum(x), (2, 3)),
    ("cumprod", lambda x: fnp.cumprod(x, axis=0), (3, 2)),
    ("cumprod-flat", lambda x: fnp.cumprod(x), (2, 2)),
    ("gradient", lambda x: fnp.gradient(x), (5,)),
    ("gradient-2d", lambda x: fnp.stack(fnp.gradient(x, 0.5, edge_order=2)), (4, 3)),
    ("gradient-coordinates", lambda x: fnp.gradient(x, numpy.array([0.0, 0.5, 1.5, 1.7]), axis=0,
                                                    edge_order=2), (4, 3)),
]


@pytest.mark.parametrize("case", COMPOSITE_CASES, ids=lambda c: c[0])
def test_composite(case, rng):
    name, fun, shape = case
    x = sample(rng, "real", shape)
    reference = {"var-axis-ddof": lambda x: numpy.var(x, axis=1, ddof=1)}.get(name)
    if reference is not None:
        numpy.testing.assert_allclose(fun(x), reference(x), rtol=1e-14)
    # the traced value is the plain call's (NumPy's own on plain input), bit for bit
    numpy.testing.assert_array_equal(fd.make_vjp(fun)(x)[1], fun(x))
    check_op(fun, [x])


def test_composites_equal_numpy(rng):
    x = sample(rng, "real", (3, 4))
    for name, args in [("var", ()), ("std", ()), ("diff", ()), ("flip", (1,)), ("roll", (2,)),
                       ("rot90", ()), ("triu", ()), ("tril", (1,)), ("diagonal", (1,)),
                       ("trace", ()), ("sort", ()), ("kron", (x,)), ("tile", ((2, 1),)),
                       ("repeat", (2,))]:
        expected = getattr(numpy, name)(x, *args)

        def f(x, name=name, args=args):
            out = getattr(fnp, name)(x, *args)
            numpy.testing.assert_allclose(fd.core.plain(out), expected, rtol=1e-15,
                                          err_msg=name)
            return fnp.sum(out)
        fd.grad(f)(x)
    assert fnp.argmax(x) == numpy.argmax(x)


# -- products --------------------------------------------------------------------

PRODUCT_CASES = [
    ("dot", (3,), (3,)), ("dot", (2, 3), (3,)), ("dot", (3,), (3, 4)),
    ("dot", (2, 3), (3, 4)), ("dot", (), (3,)), ("dot", (2, 2, 3), (4, 3, 2)),
    ("dot", (2, 3, 4), (4,)),
    ("matmul", (2, 3), (3, 4)), ("matmul", (3,), (3, 4)), ("matmul", (2, 3), (3,)),
    ("matmul", (3,), (3,)), ("matmul", (5, 2, 3), (3, 4)), ("matmul", (2, 3), (5, 3, 4)),
    ("matmul", (5, 1, 2, 3), (4, 3, 2)), ("matmul", (3,), (5, 3, 2)), ("matmul", (5, 2, 3), (3,)),
    ("outer", (3,), (4,)), ("outer", (2, 2), (3,)),
    ("inner", (3,), (3,)), ("inner", (2, 3), (4, 3)), ("inner", (), (3,)),
    ("vdot", (3,), (3,)), ("vdot", (2, 3), (3, 2)),
    ("tensordot", (2, 3, 4), (3, 4, 5)), ("tensordot", (2, 3), (2, 3)),
]


@pytest.mark.parametrize("case", PRODUCT_CASES, ids=str)
def test_products(case, rng):
    name, sa, sb = case
    fun = getattr(fnp, name)
    a, b = sample(rng, "real", sa), sample(rng, "real", sb)
    numpy.testing.assert_array_equal(fun(a, b), getattr(numpy, name)(a, b))
    check_op(fun, [a, b])


EINSUM_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]), ("i,i->", [(3,), (3,)]),
    ("ij->ji", [(2, 3)]), ("ij->i", [(2, 3)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...ij,jk->...ik", [(2, 2, 3), (3, 2)]), ("i,j,k->ijk", [(2,), (3,), (2,)]),
    ("ij,kj->", [(2, 3), (4, 3)]),
    # the sublist form: einsum(a, [0, 1], b, [1, 2]), with an output sublist last
    (([0, 1], [1, 2]), [(2, 3), (3, 4)]), (([0, 1], [1, 2], [2, 0]), [(2, 3), (3, 4)]),
    (([Ellipsis, 0, 1], [1, 30], [Ellipsis, 30]), [(2, 2, 3), (3, 2)]),
    (([0, 1], [1], [0]), [(2, 3), (3,)]), (([26, 0], [0, 26]), [(2, 3)]),
]


def _einsum_arguments(subscripts, operands):
    """The positional arguments of einsum: the string first, or each operand
    followed by its sublist (and the output sublist last)."""
    if isinstance(subscripts, str):
        return (subscripts,) + tuple(operands)
    arguments = [x for pair in zip(operands, subscripts) for x in pair]
    return tuple(arguments + list(subscripts[len(operands):]))


@pytest.mark.parametrize("case", EINSUM_CASES, ids=lambda c: str(c[0]))
def test_einsum(case, rng):
    subscripts, shapes = case
    operands = [sample(rng, "real", s) for s in shapes]
    fun = lambda *ops: fnp.einsum(*_einsum_arguments(subscripts, ops))  # noqa: E731
    reference = numpy.einsum(*_einsum_arguments(subscripts, operands))
    numpy.testing.assert_allclose(fun(*operands), reference, rtol=1e-15)
    check_op(fun, operands)
    # numpy.einsum itself dispatches to fastad on traced operands
    check_op(lambda *ops: numpy.einsum(*_einsum_arguments(subscripts, ops)), operands)


def test_cumprod_with_zeros():
    x = numpy.array([2.0, 0.0, 3.0, 4.0])
    g = fd.grad(lambda x: fnp.sum(fnp.cumprod(x)))(x)
    numpy.testing.assert_allclose(g, fd.numerical_grad(lambda x: numpy.sum(numpy.cumprod(x)), x),
                                  rtol=1e-8)


def test_tensordot_axes(rng):
    a, b = sample(rng, "real", (2, 3, 4)), sample(rng, "real", (4, 2, 5))
    check_op(lambda a, b: fnp.tensordot(a, b, axes=([0, 2], [1, 0])), [a, b])
    check_op(lambda a, b: fnp.tensordot(a, b, axes=0), [a[0, 0], b[0, 0]])


@pytest.mark.parametrize("name", ["dot", "matmul"])
def test_products_float32(name, rng):
    check_float32(getattr(fnp, name), [sample(rng, "real", (2, 3)), sample(rng, "real", (3, 4))])


LINALG_CASES = [("det", (3, 3)), ("det", (2, 3, 3)), ("inv", (3, 3)), ("inv", (2, 2, 2)),
                ("pinv", (3, 3)), ("pinv", (2, 3, 3))]


@pytest.mark.parametrize("case", LINALG_CASES, ids=str)
def test_linalg(case, rng):
    name, shape = case
    # well conditioned: identity plus a small random matrix
    x = numpy.eye(shape[-1]) + 0.3 * sample(rng, "real", shape)
    fun = getattr(fnp.linalg, name)
    numpy.testing.assert_array_equal(fun(x), getattr(numpy.linalg, name)(x))
    check_op(fun, [x])


# -- special functions ---------------------------------------------------------

@pytest.mark.parametrize("shape_axis", [((4,), None), ((2, 3), 1), ((2, 3), 0), ((2, 3, 2), (0, 2))],
                         ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp(shape_axis, keepdims, rng):
    shape, axis = shape_axis
    fun = lambda x: fsp.logsumexp(x, axis=axis, keepdims=keepdims)  # noqa: E731
    x = sample(rng, "real", shape)
    scipy_special = pytest.importorskip("scipy.special")
    numpy.testing.assert_allclose(fun(x), scipy_special.logsumexp(x, axis=axis, keepdims=keepdims),
                                  rtol=1e-14)
    check_op(fun, [x])


def test_logsumexp_extreme():
    x = numpy.array([1000.0, -1000.0, 999.0])
    value, g = fd.value_and_grad(fsp.logsumexp)(x)
    assert numpy.isfinite(value) and numpy.all(numpy.isfinite(g))
    numpy.testing.assert_allclose(g, numpy.exp(x - value), rtol=1e-14)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=str)
def test_expit(shape, rng):
    x = sample(rng, "real", shape) * 5
    scipy_special = pytest.importorskip("scipy.special")
    numpy.testing.assert_allclose(fsp.expit(x), scipy_special.expit(x), rtol=1e-15)
    check_op(fsp.expit, [x])
    extreme = numpy.array([-1000.0, 1000.0])
    assert numpy.all(numpy.isfinite(fd.elementwise_grad(fsp.expit)(extreme)))


SPECIAL_CASES = [
    ("erf", lambda x: fsp.erf(x), "real"), ("erfc", lambda x: fsp.erfc(x), "real"),
    ("gammaln", lambda x: fsp.gammaln(x), "positive"), ("digamma", lambda x: fsp.digamma(x), "positive"),
    ("polygamma", lambda x: fsp.polygamma(1, x), "positive"),
    ("logit", lambda x: fsp.logit(x * 0.4 + 0.5), "unit"),
    ("xlogy", lambda x: fsp.xlogy(x, x + 2.0), "positive"),
    ("xlog1py", lambda x: fsp.xlog1py(x, x), "positive"),
    ("log_softmax", lambda x: fsp.log_softmax(x, axis=-1), "real"),
    ("softmax", lambda x: fsp.softmax(x, axis=0), "real"),
]


@pytest.mark.parametrize("case", SPECIAL_CASES, ids=lambda c: c[0])
def test_special(case, rng):
    scipy_special = pytest.importorskip("scipy.special")
    name, fun, domain = case
    x = sample(rng, domain, (2, 3))
    reference = {"polygamma": lambda x: scipy_special.polygamma(1, x),
                 "logit": lambda x: scipy_special.logit(x * 0.4 + 0.5),
                 "xlogy": lambda x: scipy_special.xlogy(x, x + 2.0),
                 "xlog1py": lambda x: scipy_special.xlog1py(x, x),
                 "log_softmax": lambda x: scipy_special.log_softmax(x, axis=-1),
                 "softmax": lambda x: scipy_special.softmax(x, axis=0)}.get(
                     name, getattr(scipy_special, name))
    numpy.testing.assert_allclose(fun(x), reference(x), rtol=1e-14)
    check_op(fun, [x])


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)])
def test_ldexp(shape, rng):
    """ldexp(x, i) = x 2^i: linear in x, the integer exponent broadcasting."""
    x = sample(rng, "real", shape)
    exponents = numpy.array([-3, 0, 5])[: shape[-1]] if shape else numpy.int64(4)
    numpy.testing.assert_array_equal(fnp.ldexp(x, exponents), numpy.ldexp(x, exponents))
    check_op(lambda x: fnp.ldexp(x, exponents), [x])


def test_xlogy_at_zero():
    """x log y is smooth in x at 0 for y > 0 (JAX's convention)."""
    assert fd.grad(lambda x: fsp.xlogy(x, 2.0))(0.0) == numpy.log(2.0)
    assert fd.grad(lambda y: fsp.xlogy(0.0, y))(2.0) == 0.0
    assert fsp.xlogy(0.0, 0.0) == 0.0


# -- coverage: the op table is fully exercised -----------------------------------

TESTED = (set(UNARY) | set(BINARY) | set(REDUCTIONS)
          | {"reshape", "ravel", "transpose", "swapaxes", "moveaxis", "squeeze", "expand_dims",
             "broadcast_to", "getitem", "untake", "concatenate", "stack", "where", "astype",
             "dot", "matmul", "outer", "inner", "vdot", "tensordot", "logsumexp", "expit",
             "det", "inv", "identity", "logaddexp", "logaddexp2", "deg2rad", "rad2deg", "positive",
             "fabs", "fmax", "fmin", "sinc", "ldexp", "nan_to_num", "einsum", "cumsum", "cumprod",
             "solve", "logabsdet", "cholesky", "eigh_values", "eigh_vectors", "erf", "erfc",
             "corrcoef's clip to [-1, 1]", "convolve", "pinv",
             "gammaln", "digamma", "polygamma", "logit", "xlogy", "xlog1py",
             "softplus", "logistic",  # tests/test_nn.py
             "gamma", "rgamma", "erfinv", "erfcinv", "ndtr", "log_ndtr", "ndtri", "i0", "i1",
             "j0", "j1", "y0", "y1", "iv", "jv", "yv", "beta", "betaln", "gammainc",
             "gammaincc",  # tests/test_scipy_more.py
             "fused",  # every test here runs fused too (the fixture below), and tests/test_fused.py
             "real", "imag", "conjugate", "angle",  # tests/test_complex.py
             "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
             "rfftn", "irfftn",  # tests/test_complex.py, and scipy.fft's below
             "svd_values", "svd_u", "svd_v", "qr_q", "qr_r",  # tests/test_linalg.py
             "svd_s", "svd_u_full", "svd_v_full",  # and tests/test_complex.py
             "eig_values", "eig_vectors", "eigvals", "sign of complex slogdet",  # test_complex
             "eigvalsh",  # tests/test_linalg_more.py, tests/test_complex.py
             "solve_triangular", "solve_banded", "solve_sylvester",
             "sqrtm"})  # tests/test_scipy_linalg.py
NON_DIFFERENTIABLE = {name for name, p in REGISTRY.items() if not p.differentiable}
NUMPY_1 = numpy.lib.NumpyVersion(numpy.__version__) < "2.0.0"


def test_every_registered_op_is_tested():
    untested = set(REGISTRY) - TESTED - NON_DIFFERENTIABLE - {"atleast_1d"}
    untested = {name for name in untested if not name.startswith("scipy.fft.")}  # test_complex
    assert not untested, "ops without a systematic test: %s" % sorted(untested)


def test_non_differentiable_ops_give_plain_values(rng):
    x = sample(rng, "real", (3,))

    def f(x):
        s = fnp.sign(x)
        assert type(s) is numpy.ndarray
        assert type(fnp.floor(x)) is numpy.ndarray
        assert (x > 0).dtype == bool
        return fnp.sum(s * x)
    numpy.testing.assert_allclose(fd.grad(f)(x), numpy.sign(x))


# -- scipy.special: incomplete gamma and beta functions, Student's t cdf, Bessel
#    functions of integer order, weighted logsumexp (issue 18) ---------------------
#
# One line per case: an id naming the op, a function of the arrays it
# differentiates (arguments without a derivative, such as betainc's a and b
# or a Bessel order, are constants: tests/test_scipy_more.py checks that
# tracing them raises), the reference as a function of scipy.special and the
# same arrays, and each array's domain.  Values equal SciPy's to 1e-14 (the
# primitives call it); d/da gammainc, which SciPy lacks, is checked against a
# central difference of SciPy's gammainc here and against mpmath in
# tests/test_scipy_more.py.

def _gammainc_da_reference(sp, a, x, h=1e-5):
    return (sp.gammainc(a + h, x) - sp.gammainc(a - h, x)) / (2.0 * h)


SCIPY_SPECIAL_CASES = [
    ("gammainc", lambda a, x: fsp.gammainc(a, x), lambda sp, a, x: sp.gammainc(a, x),
     ("positive", "positive")),
    ("gammaincc", lambda a, x: fsp.gammaincc(a, 2.0 * x), lambda sp, a, x: sp.gammaincc(a, 2.0 * x),
     ("positive", "positive")),
    ("gammainc_a_derivative", lambda a, x: REGISTRY["gammainc_a_derivative"](1, a, x),
     _gammainc_da_reference, ("positive", "positive")),
    ("betainc", lambda x: fsp.betainc(0.7, 2.4, x / 2.5),
     lambda sp, x: sp.betainc(0.7, 2.4, x / 2.5), ("positive",)),
    ("betaincc", lambda x: fsp.betaincc(1.6, 0.9, x / 2.5),
     lambda sp, x: sp.betaincc(1.6, 0.9, x / 2.5), ("positive",)),
    ("stdtr", lambda t: fsp.stdtr(3.5, t), lambda sp, t: sp.stdtr(3.5, t), ("real",)),
    ("yn", lambda x: fsp.yn(2, x), lambda sp, x: sp.yn(2, x), ("positive",)),
    ("jn", lambda x: fsp.jn(3, x), lambda sp, x: sp.jn(3, x), ("positive",)),
    ("ive", lambda x: fsp.ive(1.5, x), lambda sp, x: sp.ive(1.5, x), ("positive",)),
    ("ive-integer-order", lambda x: fsp.ive(2, x), lambda sp, x: sp.ive(2, x), ("nonzero",)),
    ("logsumexp_weighted", lambda a, b: fsp.logsumexp(a, axis=-1, b=b),
     lambda sp, a, b: sp.logsumexp(a, axis=-1, b=b), ("real", "positive")),
    ("logsumexp_weighted-negative", lambda a, b: fsp.logsumexp(a, b=-b, return_sign=True)[0],
     lambda sp, a, b: sp.logsumexp(a, b=-b, return_sign=True)[0], ("real", "positive")),
]
SCIPY_SPECIAL_SHAPES = {1: [(), (3,), (2, 3), (0,)],
                        2: [((), ()), ((2, 3), (3,)), ((2, 1), (1, 3)), ((0,), (0,))]}


def _scipy_special_arguments(rng, domains, shapes, dtype=numpy.float64):
    shapes = shapes if len(domains) > 1 else [shapes]
    return [sample(rng, d, s, dtype) for d, s in zip(domains, shapes)]


@pytest.mark.parametrize("shapes", range(4))
@pytest.mark.parametrize("case", SCIPY_SPECIAL_CASES, ids=lambda c: c[0])
def test_scipy_special_ops(case, shapes, rng):
    scipy_special = pytest.importorskip("scipy.special")
    name, fun, reference, domains = case
    args = _scipy_special_arguments(rng, domains, SCIPY_SPECIAL_SHAPES[len(domains)][shapes])
    if name.startswith("logsumexp") and not args[0].size:
        pytest.skip("the logsumexp of no terms is -inf, without a derivative")
    numpy.testing.assert_allclose(fun(*args), reference(scipy_special, *args),
                                  rtol=1e-7 if name == "gammainc_a_derivative" else 1e-14)
    check_op(fun, args)


@pytest.mark.parametrize("case", SCIPY_SPECIAL_CASES, ids=lambda c: c[0])
def test_scipy_special_ops_float32(case, rng):
    pytest.importorskip("scipy.special")
    _, fun, _, domains = case
    check_float32(fun, _scipy_special_arguments(rng, domains, ((2, 3), (3,)) if len(domains) > 1
                                                else (2, 3)))


TESTED.update({"gammainc_a_derivative", "betainc", "betaincc", "stdtr", "yn", "ive",
               "logsumexp_weighted"})


# -- float32 through the composite functions -------------------------------------------

@pytest.mark.parametrize("case", COMPOSITE_CASES, ids=lambda c: c[0])
def test_composite_float32(case, rng):
    """float32 input: the traced value has NumPy's dtype for the plain call (float32
    unless a float64 constant takes part, as in NumPy), the gradient is float32 and
    matches the float64 gradient to float32 accuracy."""
    name, fun, shape = case
    x32 = sample(rng, "real", shape).astype(numpy.float32)
    plain = numpy.asarray(fun(x32))
    traced = numpy.asarray(fd.make_vjp(fun)(x32)[1])
    # (NumPy 1.x's value-based casting makes some float32 quantiles float64; fastad
    # keeps NumPy 2's float32 there)
    assert traced.dtype == plain.dtype or NUMPY_1 and traced.dtype == numpy.float32
    numpy.testing.assert_allclose(traced, plain, rtol=1e-6, atol=1e-6)
    loss = lambda x: fnp.sum(fun(x) * 0.5)  # noqa: E731
    g32 = fd.grad(loss)(x32)
    g64 = fd.grad(loss)(x32.astype(numpy.float64))
    assert g32.dtype == numpy.float32
    numpy.testing.assert_allclose(g32, g64, rtol=2e-4, atol=2e-5)
