"""NumPy functions beyond the op table's core: their values on traced input
are NumPy's, and their derivatives (both modes, second order) agree with
central differences.  Also the NumPy names that have no rule: a clear
TypeError, never a crash."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp

rng = np.random.default_rng(3)
def R(*shape):
    return rng.standard_normal(shape)


def traced_value(fun, *args):
    """fun(*args) evaluated on traced arguments (the value a gradient sees)."""
    return fd.make_vjp(fun, tuple(range(len(args))))(*args)[1]


NAN3 = np.array([[False, True, False], [False, False, False]])  # a NaN entering as a constant

# (name, function, arguments): each is checked for its value and derivatives
CASES = [
    ("acos", fnp.acos, (rng.uniform(-0.9, 0.9, 4),)),
    ("asinh", fnp.asinh, (R(4),)),
    ("atan2", fnp.atan2, (R(3), R(3))),
    ("pow", fnp.pow, (rng.uniform(0.5, 2.0, 3), R(3))),
    ("fmod", fnp.fmod, (R(5) * 3, rng.uniform(0.7, 1.9, 5))),
    ("copysign", fnp.copysign, (R(5), R(5))),
    ("copysign scalar", lambda x: fnp.copysign(x, -1.0), (0.7,)),
    ("float_power", fnp.float_power, (rng.uniform(0.5, 2.0, 3), R(3))),
    ("ldexp", lambda x: fnp.ldexp(x, np.array([1, -2, 3])), (R(3),)),
    ("real", fnp.real, (R(3),)),
    ("conj", fnp.conj, (R(2, 2),)),
    ("conjugate", lambda x: fnp.conjugate(x) * x, (R(3),)),
    ("real_if_close", fnp.real_if_close, (R(3),)),
    ("imag", lambda x: fnp.imag(x) + x, (R(3),)),
    ("angle", lambda x: fnp.angle(x) * x, (R(4),)),
    ("fmax scalar-array", fnp.fmax, (0.3, R(4))),
    ("fmin array-scalar", fnp.fmin, (R(4), 0.3)),
    ("permute_dims", lambda x: fnp.permute_dims(x, (2, 0, 1)), (R(2, 3, 4),)),
    ("matrix_transpose", fnp.matrix_transpose, (R(2, 3, 4),)),
    ("concat", lambda x, y: fnp.concat([x, y], axis=1), (R(2, 3), R(2, 1))),
    ("unstack", lambda x: fnp.unstack(x, axis=1)[2], (R(2, 3),)),
    ("cumulative_sum", lambda x: fnp.cumulative_sum(x, include_initial=True), (R(5),)),
    ("vecdot", fnp.vecdot, (R(3, 4), R(4))),
    ("matvec", fnp.matvec, (R(2, 3, 4), R(4))),
    ("vecmat", fnp.vecmat, (R(3), R(3, 4))),
    ("append", fnp.append, (R(2, 3), R(4))),
    ("append axis", lambda x, y: fnp.append(x, y, axis=0), (R(2, 3), R(1, 3))),
    ("append list", lambda x: fnp.append([1.0, x], 2.0), (0.5,)),
    ("linspace", lambda a, b: fnp.linspace(a, b, 7), (1.2, -3.4)),
    ("linspace open", lambda a, b: fnp.linspace(a, b, 5, endpoint=False), (1.2, 3.4)),
    ("linspace one", lambda a, b: fnp.linspace(a, b, 1), (1.2, 3.4)),
    ("linspace equal", lambda a, b: fnp.linspace(a, b, 4), (1.2, 1.2)),
    ("linspace arrays", lambda a, b: fnp.linspace(a, b, 4, axis=1), (R(2), R(2))),
    ("linspace retstep", lambda a, b: fnp.linspace(a, b, 4, retstep=True)[1], (0.5, 2.5)),
    ("logspace", lambda a, b: fnp.logspace(a, b, 4), (0.1, 0.9)),
    ("diagflat", lambda x: fnp.diagflat(x, 1), (R(2, 2),)),
    ("broadcast_arrays", lambda x, y: fnp.broadcast_arrays(x, y)[0] * fnp.broadcast_arrays(x, y)[1],
     (R(3, 1), R(4))),
    ("meshgrid", lambda x, y: fnp.meshgrid(x, y)[0] * fnp.meshgrid(x, y)[1], (R(3), R(2))),
    ("meshgrid ij", lambda x, y: fnp.meshgrid(x, y, indexing="ij")[1], (R(3), R(2))),
    ("take", lambda x: fnp.take(x, [0, 2, 2]), (R(2, 3),)),
    ("take axis", lambda x: fnp.take(x, [[0, 1], [1, 1]], axis=1), (R(2, 3),)),
    ("take_along_axis", lambda x: fnp.take_along_axis(x, np.array([[0, 2], [1, 1]]), axis=1),
     (R(2, 3),)),
    ("partition", lambda x: fnp.partition(x, 3), (R(7),)),
    ("ptp", lambda x: fnp.ptp(x, axis=0), (R(3, 4),)),
    ("median odd", fnp.median, (R(5),)),
    ("median even axis", lambda x: fnp.median(x, axis=1, keepdims=True), (R(3, 4),)),
    ("median axes", lambda x: fnp.median(x, axis=(0, 2)), (R(3, 2, 3),)),
    ("nansum", lambda x: fnp.nansum(fnp.where(NAN3, np.nan, x), axis=0), (R(2, 3),)),
    ("nanmean", lambda x: fnp.nanmean(fnp.where(NAN3, np.nan, x)), (R(2, 3),)),
    ("nanmax", lambda x: fnp.nanmax(fnp.where(NAN3, np.nan, x), axis=1), (R(2, 3),)),
    ("nanmin", lambda x: fnp.nanmin(fnp.where(NAN3, np.nan, x)), (R(2, 3),)),
    ("nanprod", lambda x: fnp.nanprod(fnp.where(NAN3, np.nan, x)), (R(2, 3),)),
    ("nanvar", lambda x: fnp.nanvar(fnp.where(np.array([False, True, False, False]), np.nan, x), ddof=1), (R(4),)),
    ("nanstd", lambda x: fnp.nanstd(fnp.where(NAN3, np.nan, x), axis=1), (R(2, 3),)),
    ("polyval", fnp.polyval, (R(4), R(3))),
    ("polyval scalar", fnp.polyval, (R(3), 0.7)),
    ("trapezoid", fnp.trapezoid, (R(2, 5),)),
    ("trapezoid x", lambda y, x: fnp.trapezoid(y, x, axis=0), (R(4, 2), np.cumsum(rng.uniform(0.1, 1, 4)))),
    ("r_", lambda x: fnp.r_[x, np.ones(2), 1:3], (R(3),)),
    ("r_ scalar", lambda x: fnp.r_[x, 2.0, x], (0.3,)),
    ("c_", lambda x: fnp.c_[x, np.ones(3), x], (R(3),)),
    ("std of one value", lambda x: fnp.std(x), (np.array([1.5]),)),
    ("std of equal values", lambda x: fnp.std(x * np.ones(3), axis=0), (0.7,)),
    ("std", lambda x: fnp.std(x, axis=1, ddof=1), (R(2, 3),)),
    # numpy.gradient raised 'no differentiation rule'
    ("gradient", lambda x: fnp.stack(fnp.gradient(x)), (R(4, 3),)),
    ("gradient axis", lambda x: fnp.gradient(x, axis=-1), (R(2, 3, 4),)),
    ("gradient spacings", lambda x: fnp.stack(np.gradient(x, 0.3, [0.0, 0.4, 1.5])), (R(4, 3),)),
    ("gradient edge 2", lambda x: fnp.stack(fnp.gradient(x, [0.0, 1.0, 1.5, 3.0], 2.0,
                                                         edge_order=2)), (R(4, 3),)),
    # numpy.rollaxis raised 'no differentiation rule'; insert, delete and block too
    ("rollaxis", lambda x: np.rollaxis(x, 0, 3), (R(2, 3, 4),)),
    ("rollaxis negative", lambda x: fnp.rollaxis(x, -1, -2), (R(2, 3, 4),)),
    ("insert", lambda x, v: np.insert(x, [0, 2, 2], v, axis=1), (R(3, 4), R(3))),
    ("insert scalar", lambda x, v: fnp.insert(x, 1, v), (R(4), 0.5)),
    ("delete", lambda x: np.delete(x, np.array([True, False, True]), axis=0), (R(3, 2),)),
    ("block", lambda a, b: np.block([[a, b], [b, a]]), (R(2, 2), R(2, 2))),
    ("block of 1-d and scalars", lambda a, b: fnp.block([a, b, 1.0]), (R(3), R(2))),
    # append of nested lists of traced values raised 'a NumPy function without a rule'
    ("append lists", lambda a, b: fnp.append(a, b, axis=0),
     ([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[7.0, 8.0, 9.0]])),
    # quantile, percentile, cov and corrcoef had no rule
    ("quantile", lambda x: fnp.quantile(x, [0.25, 0.5, 0.9], axis=0), (R(5, 2),)),
    ("quantile in q", lambda q: fnp.quantile(np.array([3.0, 1.0, 4.0, 1.5, 9.0]), q), (0.37,)),
    ("percentile", lambda x: np.percentile(x, 30.0, axis=(0, 2)), (R(3, 2, 4),)),
    ("cov", lambda x, y: np.cov(x, y), (R(2, 5), R(5))),
    ("cov weights", lambda x: fnp.cov(x, fweights=[1, 2, 1, 3], aweights=[0.5, 2.0, 1.0, 3.0]),
     (R(3, 4),)),
    ("corrcoef", lambda x: np.corrcoef(x, rowvar=False), (R(5, 3),)),
    # numpy.interp had no rule
    ("interp", lambda x, f: np.interp(x, [-1.0, 0.0, 0.5, 2.0], f), (R(6), R(4))),
    ("interp left right", lambda x, l, r: fnp.interp(x, [-1.0, 0.0, 0.5], [1.0, 2.0, 0.0], l, r),
     (R(6) * 2, 0.3, -0.7)),
    ("interp period", lambda x, f: fnp.interp(x, [2.5, 0.5, 1.5], f, period=3.0),
     (R(6) * 4, R(3))),
    ("gradient in coordinates", lambda c: fnp.gradient(np.sin(np.arange(5.0)), c, edge_order=2),
     (np.array([0.0, 0.5, 1.5, 1.7, 2.9]),)),
]


@pytest.mark.parametrize("name, fun, args", CASES, ids=[c[0] for c in CASES])
def test_values_are_numpys_and_derivatives_agree(name, fun, args):
    expected = fun(*args)  # plain NumPy
    value = traced_value(fun, *args)
    np.testing.assert_allclose(value, expected, rtol=1e-15, atol=0)
    fd.check_grads(fun, *args, modes=("fwd", "rev"), order=2)


def test_std_of_equal_values_has_zero_gradient():
    assert fd.grad(lambda x: fnp.std(x))(np.full(4, 2.0)).tolist() == [0.0] * 4
    assert fd.grad(lambda x: fnp.std(fnp.array([x, x])))(1.0) == 0.0
    g = fd.grad(lambda x: fnp.sum(fnp.std(x, axis=0)))(np.array([[1.0, 2.0], [1.0, 5.0]]))
    np.testing.assert_allclose(g, [[0.0, -0.5], [0.0, 0.5]])
    # NaN data keep NumPy's NaN
    assert np.isnan(fd.value_and_grad(lambda x: fnp.std(x))(np.array([1.0, np.nan]))[0])


@pytest.mark.parametrize("threshold", [-1, 0], ids=["unfused", "fused"])
@pytest.mark.parametrize("exponent", [2, 2.0, 0.5, -1, 1, np.float64(2.0), np.array(0.5), 3, 1.5])
def test_power_operator_and_power_values_are_numpys(exponent, threshold):
    # NumPy 1.x's `x ** c` computes c = 2, 0.5, -1 and 1 with square, sqrt,
    # reciprocal and positive, numpy.power with its general loop, which
    # rounds differently; on NumPy 2 the two are the same
    x = rng.uniform(0.1, 10.0, 1000)
    previous = fd._tape.set_fusion_threshold(threshold)
    try:
        traced = traced_value(lambda x: x ** exponent, x)
        assert traced.tobytes() == (x ** exponent).tobytes()
        traced = traced_value(lambda x: fnp.power(x, exponent), x)
        assert traced.tobytes() == np.power(x, exponent).tobytes()
    finally:
        fd._tape.set_fusion_threshold(previous)


def test_linspace_values_bit_for_bit():
    for start, stop, num, endpoint in [(1.2, -3.4, 7, True), (0.1, 0.7, 10, False),
                                       (2.0, 2.0, 3, True), (0.0, 1.0, 2, True)]:
        traced = traced_value(lambda a, b: fnp.linspace(a, b, num, endpoint=endpoint), start, stop)
        assert traced.tobytes() == np.linspace(start, stop, num, endpoint=endpoint).tobytes()
    # float32 scalars: float32 from NumPy 2 (NEP 50); NumPy 1.x's linspace
    # multiplies them by 1.0 first, which its value-based casting makes float64
    numpy2 = np.lib.NumpyVersion(np.__version__) >= "2.0.0"
    a, b = np.float32(0.1), np.float32(0.7)
    traced = traced_value(lambda a, b: fnp.linspace(a, b, 4), a, b)
    expected = np.linspace(a, b, 4)
    assert expected.dtype == (np.float32 if numpy2 else np.float64)
    assert traced.dtype == expected.dtype and traced.tobytes() == expected.tobytes()
    # float32 arrays stay float32 on both
    a, b = np.array([0.1, 0.2], np.float32), np.array([0.7, 0.9], np.float32)
    traced = traced_value(lambda a, b: fnp.linspace(a, b, 4), a, b)
    assert traced.dtype == np.float32 and traced.tobytes() == np.linspace(a, b, 4).tobytes()


def test_partition_and_median_route_the_derivative_to_the_chosen_elements():
    x = np.array([3.0, 1.0, 2.0, 5.0])
    np.testing.assert_array_equal(fd.grad(fnp.median)(x), [0.5, 0.0, 0.5, 0.0])
    np.testing.assert_array_equal(fd.grad(lambda x: fnp.partition(x, 1)[1])(x), [0, 0, 1, 0])


def test_scalar_compares_with_arrays_elementwise():
    def f(s, v):
        mask = s < v
        assert mask.dtype == bool and mask.shape == (3,)
        return fnp.sum(fnp.where(mask, v * s, 0.0))
    v = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(fd.grad(f)(0.5, v), 3.0)
    assert (fd.grad(lambda s: fnp.sum(fnp.where(s == v, s, 0.0)))(1.0)) == 1.0


@pytest.mark.parametrize("name", ["frexp", "modf", "gcd", "divmod", "nextafter", "bitwise_and"])
def test_numpy_ufuncs_without_a_rule_raise_a_clear_error(name):
    ufunc = getattr(np, name)
    args = (np.array([1.0, 2.0]),) * ufunc.nin

    def f(x):
        return ufunc(x, *args[1:])
    with pytest.raises(TypeError, match=name):
        fd.grad(lambda x: fnp.sum(f(x)))(np.array([1.0, 2.0]))


def test_check_grads_curried_form_and_argnum():
    def f(x, y, n):
        return fnp.sum(x * y ** n)
    x, y = R(3), R(3)
    fd.check_grads(f)(x, y, 2)                      # autograd's form: argument 0
    fd.check_grads(f, argnum=(0, 1))(x, y, 2)
    fd.check_grads(f, x, y, 2)                      # every float argument (n is an int)
    fd.check_grads(lambda x, axis: fnp.sum(x, axis=axis) ** 2)(R(2, 3), axis=1)
    cube = fd.extend.primitive(lambda x: x ** 3)
    fd.extend.defvjp(cube, lambda ans, x: lambda g: g * 2.0 * x * x)  # wrong: 3 x^2
    with pytest.raises(AssertionError, match="reverse-mode"):
        fd.check_grads(cube, modes="rev")(0.7)
    with pytest.raises(TypeError, match="argument 2 holds no floats"):
        fd.check_grads(f, x, y, 2, argnum=2)
    with pytest.raises(ValueError, match="out of range"):
        fd.check_grads(f, x, y, 2, argnum=5)


def test_predicates_and_queries_on_traced_values_are_plain():
    def fun(x):
        assert np.allclose(x, (x * 3.0) / 3.0) and fnp.array_equal(x, x)
        assert not fnp.iscomplex(x).any() and fnp.isrealobj(x)
        close = fnp.isclose(x, 2.0)
        assert close.dtype == bool and fnp.result_type(x) == np.float64
        return fnp.sum(fnp.where(close, x, 3.0 * fnp.copy(x).copy()))
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(fd.grad(fun)(x), [3.0, 1.0, 3.0])
    fd.check_grads(fun)(x)
    with pytest.raises(TypeError, match="returned a value of type bool"):
        fd.grad(lambda x: fnp.allclose(x, x))(x)
    tape = fd.record(lambda x: fnp.sum(x) if fnp.allclose(x, 1.0) else -fnp.sum(x), np.ones(2))
    with pytest.raises(fd.RetapeRequired, match="allclose"):
        tape(np.zeros(2))


def test_array_of_an_empty_list_and_of_plain_numbers_is_numpys():
    """fnp.array once took the stacking path for every list: `any` in
    ops/tracing.py was NumPy's (from `from numpy import *`), which calls a
    generator true, so fnp.array([]) raised 'need at least one array to
    stack' and a list of plain numbers was stacked element by element."""
    from fastad.ops.tracing import contains_traced
    assert not contains_traced([1.0, [2.0, 3.0], ()])
    for plain in ([], [[]], [1.0, 2.0], [[1, 2], [3, 4]], (1.5, 2)):
        for fun, reference in [(fnp.array, np.array), (fnp.asarray, np.asarray)]:
            out = fun(plain)
            assert type(out) is np.ndarray
            assert out.dtype == reference(plain).dtype and out.shape == reference(plain).shape
            np.testing.assert_array_equal(out, reference(plain))
    assert fnp.array([1, 2], dtype=float).dtype == np.float64
    with pytest.raises(ValueError, match="inhomogeneous"):
        fnp.array([[1.0], [1.0, 2.0]])
    # lists holding traced values still stack, at any depth
    np.testing.assert_allclose(
        fd.grad(lambda x: fnp.sum(fnp.array([[x, 1.0], [2.0, x * x]])))(3.0), 7.0)


def test_einsum_in_the_sublist_form():
    """einsum(a, [0, 1], b, [1, 2]) raised 'takes subscripts as a string'
    (autograd's test_einsum2_* use this form)."""
    a, b = R(2, 3), R(3, 4)
    for args in [(a, [0, 1], b, [1, 2]), (a, [0, 1], b, [1, 2], [2, 0]), (a, [0, 1], [1, 0])]:
        np.testing.assert_array_equal(traced_value(lambda a: fnp.einsum(a, *args[1:]), a),
                                      np.einsum(*args))
        fd.check_grads(lambda a: fnp.einsum(a, *args[1:]), modes=("fwd", "rev"), order=2)(a)
    fd.check_grads(lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [2, 0]),
                   modes=("fwd", "rev"), order=2)(a, b)


def test_pad_takes_every_pad_width_numpy_takes():
    """pad_width=(3,) raised 'cannot reshape array of size 1 into shape (2)'
    in every mode (autograd's test_pad), and constant_values given as pairs
    raised a broadcasting ValueError in mode 'constant'."""
    x = R(2, 3)
    for pad_width in [(3,), 2, (1, 2), ((1, 2),), ((1, 0), (2, 3)), {1: (1, 2)}]:
        for mode in ["constant", "edge", "wrap", "reflect", "symmetric", "linear_ramp", "mean"]:
            try:
                expected = np.pad(x, pad_width, mode=mode)
            except TypeError:  # (a dict pad_width: NumPy >= 2.3's, which fastad takes)
                continue
            np.testing.assert_array_equal(
                traced_value(lambda x: fnp.pad(x, pad_width, mode=mode), x), expected)
    for values in [(1.0, 2.0), ((1.0, 2.0), (3.0, 4.0)), [[5.0]]]:
        np.testing.assert_array_equal(
            traced_value(lambda x: fnp.pad(x, 1, constant_values=values), x),
            np.pad(x, 1, constant_values=values))
    with pytest.raises(TypeError, match="integral"):
        fd.grad(lambda x: fnp.sum(fnp.pad(x, 1.5)))(x)
    with pytest.raises(ValueError, match="not supported"):
        fd.grad(lambda x: fnp.sum(fnp.pad(x, 1, mode="nearest")))(x)


def test_astype_int_of_a_traced_value_is_a_plain_array():
    """x.astype(int) of a traced array raised (autograd's test_cast_to_int
    does it, through numpy.int64): a cast to integers is piecewise constant,
    so it gives a plain array, as in autograd and JAX; recorded tapes guard
    it as they guard comparisons."""
    def fun(w):
        indices = w[:, -1].astype(int)
        assert type(indices) is np.ndarray and indices.dtype == np.int64
        assert fnp.astype(w[:, 0] > 0, np.int8).dtype == np.int8
        return fnp.sum(w[:, :-1][indices]) + fnp.sum(w.astype(np.float32))
    w = np.abs(R(5, 4)) * 2 % 5
    fd.check_grads(lambda w: fnp.sum(w[:, :-1][w[:, -1].astype(int)]), modes=("fwd", "rev"),
                   order=2)(w)
    assert fd.grad(fun)(w).dtype == np.float64
    tape = fd.record(fun, w)
    with pytest.raises(fd.RetapeRequired, match="astype"):
        tape(w + 1.0)


def test_reductions_of_a_list_of_traced_values():
    """mean, std, var (and sum, prod, max, min) of a Python list of traced
    values reached NumPy, which refused them (autograd's
    test_*_list_of_boxes)."""
    assert fd.grad(lambda x: fnp.mean([x, x + 2]))(0.0) == 1.0
    assert fd.grad(lambda x: fnp.mean((x, x + 2)))(0.0) == 1.0
    assert fd.grad(lambda x: fnp.std([x, x + 2]))(0.0) == 0.0
    assert fd.grad(lambda x: fnp.var((x, x + 2)))(0.0) == 0.0
    np.testing.assert_allclose(fd.grad(lambda x: fnp.var([x, 3 * x, 1.0]))(0.3),
                               fd.numerical_grad(lambda x: np.var([x, 3 * x, 1.0]), 0.3))
    assert fd.grad(lambda x: fnp.prod([x, x, 2.0]))(3.0) == 12.0
    assert fd.grad(lambda x: fnp.max([x, 2 * x]))(1.0) == 2.0
    assert fnp.mean([1.0, 2.0]) == 1.5  # (plain lists: NumPy's)


def test_quantile_order_is_guarded_on_replay():
    """The order quantile finds is a decision: a tape replayed where the
    order differs raises RetapeRequired instead of interpolating the wrong
    elements; so are the neighbours a traced q picks."""
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0, 2.6])
    tape = fd.record(lambda a: fnp.quantile(a, 0.4), x)
    assert tape(2 * x) == np.quantile(2 * x, 0.4)
    with pytest.raises(fd.RetapeRequired, match="order of sort"):
        tape(x[::-1].copy())
    tape = fd.record(lambda q: fnp.percentile(x, q), 40.0)
    assert tape(42.0) == np.percentile(x, 42.0)
    with pytest.raises(fd.RetapeRequired):
        tape(90.0)


@pytest.mark.parametrize("condition, x, y, kind", [
    (True, 1, 2, int), (True, 3.0, 4.0, float), (False, 1, 2.0, float), (True, [1, 2], [3, 4], list),
    (True, np.array([1.0], np.float32), np.array([2.0], np.float32), np.float32),
    (False, np.array([1.0]), np.array([2.0], np.float32), np.float64),
])
def test_where_of_python_numbers_is_a_python_number(condition, x, y, kind):
    """fnp.where on Python numbers and lists alone gave 0-d and 1-d arrays;
    autograd.numpy.where gives Python values there (its
    test_custom_where_dtypes), and arrays as soon as an array is given."""
    result = fnp.where(condition, x, y)
    if hasattr(result, "dtype"):
        assert result.dtype.type is kind
    else:
        assert type(result) is kind
        assert result == np.where(condition, x, y).tolist()


def test_where_takes_x_and_y_by_keyword():
    """where(condition=c, x=x, y=y) raised 'positional-only arguments
    passed as keyword' (autograd's test_custom_where); x and y stay
    differentiable by keyword."""
    x, y, c = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), [True, False, True]
    for result in (fnp.where(condition=c, x=x, y=y), fnp.where(c, x, y=y)):
        np.testing.assert_array_equal(result, [1.0, 5.0, 3.0])
    np.testing.assert_array_equal(fnp.where(c)[0], [0, 2])
    np.testing.assert_array_equal(
        fd.grad(lambda x: fnp.sum(fnp.where(condition=c, x=x, y=2 * x)))(x), [1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="both or neither"):
        fnp.where(c, x)


def test_a_custom_rule_building_full_from_its_cotangent_differentiates_again():
    """fnp.full(shape, g) with a traced g was NumPy's full, which refused
    it, so a custom VJP returning full(x.shape, g) (the VJP of a sum) could
    not be differentiated again; full and full_like now broadcast a traced
    fill value, and the *_like functions of traced input give plain arrays
    (constants, as in autograd and JAX)."""
    total = fd.extend.primitive(lambda x: np.sum(x))
    fd.extend.defvjp(total, lambda ans, x: lambda g: fnp.full(x.shape, g))
    fd.check_grads(lambda x: total(fnp.sin(x)), modes=("rev",), order=2)(R(2, 3))

    @fd.custom_vjp
    def square_sum(x):
        return fnp.sum(x ** 2)
    square_sum.defvjp(lambda x: (square_sum(x), x), lambda x, g: (2.0 * fnp.full_like(x, g) * x,))
    fd.check_grads(square_sum, modes=("rev",), order=2)(R(3))

    def fun(x):
        for like in (fnp.zeros_like, fnp.ones_like, fnp.empty_like):
            assert type(like(x)) is np.ndarray and like(x).shape == x.shape
        assert type(fnp.zeros_like([x[0], x[1]])) is np.ndarray
        assert fnp.full_like(np.zeros(3, int), x[0, 0]).dtype == int  # (a cast: constant)
        return fnp.sum(fnp.full_like(x, x[0, 0]) * x) + fnp.sum(fnp.full(4, x[1, 1], float))
    fd.check_grads(fun, modes=("fwd", "rev"), order=2)(R(2, 3))


def test_make_diagonal_is_the_inverse_of_diagonal():
    """autograd.numpy.make_diagonal was missing (autograd's
    test_make_diagonal): D on the diagonal of the last two axes, zeros
    elsewhere, differentiable; also at an offset and other axes."""
    for shape, options in [((4,), dict(axis1=-1, axis2=-2)), ((3, 4), dict(axis1=-1, axis2=-2)),
                           ((3, 4), dict(offset=1, axis1=0, axis2=2)), ((2, 3), dict(offset=-2))]:
        D = R(*shape)
        A = fnp.make_diagonal(D, **options)
        np.testing.assert_array_equal(
            np.diagonal(A, options.get("offset", 0), options.get("axis1", 0),
                        options.get("axis2", 1)), D)
        assert np.count_nonzero(A) == D.size
        fd.check_grads(lambda D: fnp.make_diagonal(D, **options), modes=("fwd", "rev"), order=2)(D)


def test_interp_at_the_sample_points():
    """At a sample point interp's value is fp there exactly (NumPy's), and
    its derivative is the slope to the right (to the left at the last
    point), as in JAX; the interval found is guarded on replay."""
    xp, fp = np.array([0.0, 0.5, 1.5, 2.0]), np.array([1.0, -1.0, 2.0, 0.0])
    np.testing.assert_array_equal(traced_value(lambda x: fnp.interp(x, xp, fp), xp), fp)
    slopes = np.diff(fp) / np.diff(xp)
    np.testing.assert_allclose(fd.elementwise_grad(lambda x: fnp.interp(x, xp, fp))(xp),
                               np.r_[slopes, slopes[-1]], rtol=1e-15)
    x = np.array([0.2, 1.0, 3.0])
    tape = fd.record(lambda x: fnp.sum(fnp.interp(x, xp, fp)), x)
    assert tape(x + 1e-3) == np.sum(np.interp(x + 1e-3, xp, fp))
    with pytest.raises(fd.RetapeRequired, match="searchsorted"):
        tape(x + 0.4)
    with pytest.raises(NotImplementedError, match="xp"):
        fd.grad(lambda xp: fnp.interp(0.3, xp, fp))(xp)
