"""Hostile input at the operators' boundary: a repeated argnum, masked arrays
and matrices, user rules of the wrong shape, poles on scalar input, axes out
of range, empty Jacobians, defaultdicts and namedtuples.  Each ends in the
right answer or a clear error, never in a crash or a silent wrong answer."""
import collections
import warnings

import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
import fastad.scipy.special as fsp
from fastad.checks import numerical_grad
from fastad.extend import defjvp, defvjp, primitive
from fastad.ops import numpy_versions  # NumPy 2 functions on NumPy 1.26 too

AxisError = numpy.exceptions.AxisError


# -- 1. a repeated argnum ------------------------------------------------------------
# jax.grad(f, argnums=(0, 0)) fails (an internal TypeError); autograd returns
# (0.0, 2.0) for x * x at 1.0.  fastad refuses it, naming the argument.

_OPERATORS = {
    "grad": lambda a: fd.grad(lambda x, y: x * x * y, argnum=a)(1.0, 3.0),
    "value_and_grad": lambda a: fd.value_and_grad(lambda x, y: x * x * y, argnum=a)(1.0, 3.0),
    "elementwise_grad": lambda a: fd.elementwise_grad(lambda x, y: x * y, argnum=a)(
        numpy.ones(2), numpy.ones(2)),
    "make_vjp": lambda a: fd.make_vjp(lambda x, y: x * y, argnum=a)(1.0, 3.0)[0](1.0),
    "make_jvp": lambda a: fd.make_jvp(lambda x, y: x * y, argnum=a)(1.0, 3.0)(
        (1.0,) * (len(a) if isinstance(a, tuple) else 1)),
    "jacobian": lambda a: fd.jacobian(lambda x, y: x * y, argnum=a)(numpy.ones(2), numpy.ones(2)),
    "jacfwd": lambda a: fd.jacfwd(lambda x, y: x * y, argnum=a)(numpy.ones(2), numpy.ones(2)),
    "jacrev": lambda a: fd.jacrev(lambda x, y: x * y, argnum=a)(numpy.ones(2), numpy.ones(2)),
    "hessian": lambda a: fd.hessian(lambda x, y: x * x * x * y, argnum=a)(1.0, 3.0),
    "make_hvp": lambda a: fd.make_hvp(lambda x, y: x * x * x * y, argnum=a)(1.0, 3.0),
    "check_grads": lambda a: fd.check_grads(lambda x, y: x * y, 1.0, 3.0, argnum=a),
}


@pytest.mark.parametrize("name", sorted(_OPERATORS))
@pytest.mark.parametrize("argnum", [(0, 0), (1, 0, 1), (0, -2)])
def test_a_repeated_argnum_is_refused_by_every_operator(name, argnum):
    with pytest.raises(ValueError, match=r"%s: argnum .* names argument \d more than once"
                       % name):
        _OPERATORS[name](argnum)


_EYE = numpy.eye(2)
#: each operator's result with argnum (0, 1), worked by hand: f = x * x * y (grad,
#: value_and_grad), x * y (vjp, jvp, Jacobians at ones), x**3 * y (Hessians) at (1, 3)
_DISTINCT = {
    "grad": (6.0, 1.0), "value_and_grad": (3.0, (6.0, 1.0)),
    "elementwise_grad": (numpy.ones(2), numpy.ones(2)), "make_vjp": (3.0, 1.0),
    "make_jvp": (3.0, 4.0), "jacobian": (_EYE, _EYE), "jacfwd": (_EYE, _EYE),
    "jacrev": (_EYE, _EYE), "hessian": ((18.0, 3.0), (3.0, 0.0)),
}


@pytest.mark.parametrize("name", sorted(_OPERATORS))
def test_distinct_argnums_still_work(name):
    got = _OPERATORS[name]((0, 1))
    if name == "check_grads":
        assert got is None  # (it raises where the derivatives disagree)
    elif name == "make_hvp":
        hvp_fun, gradient = got
        assert gradient == (9.0, 1.0)
        numpy.testing.assert_array_equal(numpy.ravel(hvp_fun((1.0, 0.0))), [18.0, 3.0])
    else:
        expected = _DISTINCT[name]
        assert fd.tree.flatten(got)[1] == fd.tree.flatten(expected)[1], (got, expected)
        for g, e in zip(fd.tree.flatten(got)[0], fd.tree.flatten(expected)[0]):
            numpy.testing.assert_array_equal(g, e)


def test_grad_with_two_argnums_is_right():
    assert fd.grad(lambda x, y: x * x * y, argnums=(0, 1))(1.0, 3.0) == (6.0, 1.0)
    assert fd.grad(lambda x, y: x * x * y, argnums=(1, 0))(1.0, 3.0) == (1.0, 6.0)


# -- 2. masked arrays and matrices ---------------------------------------------------
# JAX raises ValueError for a masked array ("use arr.filled()"), autograd a
# TypeError for both; JAX takes a matrix as a 2-d array, whose * then means
# something else than for the matrix itself: fastad refuses it.

def test_a_masked_argument_is_refused_with_the_remedy():
    x = numpy.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    f = lambda x: fnp.sum(x * x)  # noqa: E731
    for op in (fd.grad, fd.value_and_grad, fd.elementwise_grad, fd.jacobian, fd.hessian):
        with pytest.raises(TypeError, match=r"argument 0 is a numpy.ma.MaskedArray.*filled"):
            op(f)(x)
    with pytest.raises(TypeError, match="MaskedArray"):
        fd.jvp(f, (x,), (numpy.ones(3),))
    # the remedy the message gives: the mask applied inside the function
    keep = ~numpy.ma.getmaskarray(x)
    g = fd.grad(lambda x: fnp.sum(fnp.where(keep, x, 0.0) ** 2))(x.filled(0.0))
    numpy.testing.assert_array_equal(g, [2.0, 0.0, 6.0])


def test_masked_tangents_and_cotangents_are_refused():
    masked = numpy.ma.masked_array([1.0, 2.0], mask=[True, False])
    with pytest.raises(TypeError, match="tangent 0 is a numpy.ma.MaskedArray"):
        fd.jvp(lambda x: x * 2.0, (numpy.ones(2),), (masked,))
    _, vjp = fd.vjp(lambda x: x * 2.0, numpy.ones(2))
    with pytest.raises(TypeError, match="cotangent 0 is a numpy.ma.MaskedArray"):
        vjp(masked)


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_a_matrix_argument_is_refused_with_the_remedy():
    m = numpy.matrix([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match=r"argument 0 is a numpy.matrix.*numpy.asarray"):
        fd.grad(lambda x: fnp.sum(x * x))(m)
    g = fd.grad(lambda x: fnp.sum(x * x))(numpy.asarray(m))
    assert type(g) is numpy.ndarray
    numpy.testing.assert_array_equal(g, 2.0 * numpy.asarray(m))


def test_other_ndarray_subclasses_still_work(tmp_path):
    mm = numpy.memmap(tmp_path / "x.dat", dtype=numpy.float64, mode="w+", shape=(3,))
    mm[:] = [1.0, 2.0, 3.0]
    numpy.testing.assert_array_equal(fd.grad(lambda x: fnp.sum(x * x))(mm), [2.0, 4.0, 6.0])


# -- 3. user rules returning the wrong shape ---------------------------------------------
# JAX: "Custom VJP bwd rule must produce an output with the same type as the
# args tuple of the primal function, but at output[0] the bwd rule produced
# an output of type float64[3,1] corresponding to an input of type
# float64[3], so the shapes do not match".

def _custom_vjp_returning(make):
    @fd.custom_vjp
    def double(x):
        return x * 2.0

    def double_bwd(residuals, g):
        return (make(g),)
    double.defvjp(lambda x: (double(x), None), double_bwd)
    return double


@pytest.mark.parametrize("make, shape", [
    (lambda g: fnp.reshape(g * 2.0, (3, 1)), r"\(3, 1\)"),
    (lambda g: fnp.sum(g * 2.0), r"\(\)"),
    (lambda g: numpy.ones(4), r"\(4,\)"),
    (lambda g: numpy.ones((1, 3)), r"\(1, 3\)"),
])
def test_a_custom_vjp_cotangent_of_the_wrong_shape_is_refused(make, shape):
    double = _custom_vjp_returning(make)
    with pytest.raises(ValueError, match=r"double: the bwd rule double_bwd returned a cotangent "
                       r"of shape %s for argument 0, whose shape is \(3,\)" % shape):
        fd.grad(lambda x: fnp.sum(double(x)))(numpy.ones(3))


def test_a_custom_vjp_cotangent_of_the_right_shape_is_used():
    double = _custom_vjp_returning(lambda g: g * 2.0)
    numpy.testing.assert_array_equal(fd.grad(lambda x: fnp.sum(double(x)))(numpy.ones(3)),
                                     [2.0, 2.0, 2.0])
    assert fd.grad(lambda x: double(x))(1.5) == 2.0


def test_a_defvjp_cotangent_of_the_wrong_shape_is_refused():
    @primitive
    def square(x):
        return x * x
    defvjp(square, lambda ans, x: lambda g: fnp.reshape(2.0 * g * x, (-1, 1)))
    with pytest.raises(ValueError, match=r"square: the VJP rule of argument 0 \(defvjp\) "
                       r"returned a cotangent of shape \(3, 1\) for argument 0, whose shape is "
                       r"\(3,\)"):
        fd.grad(lambda x: fnp.sum(square(x)))(numpy.ones(3))
    with pytest.raises(ValueError, match="square: the VJP rule"):
        fd.jacrev(square)(numpy.ones(3))


def test_a_defvjp_rule_of_a_broadcasting_primitive_must_sum_itself():
    @primitive
    def scale(x, k):
        return x * k
    # the cotangent of the scalar k must be summed over x's axis by the rule
    defvjp(scale, lambda ans, x, k: lambda g: g * k, lambda ans, x, k: lambda g: g * x)
    with pytest.raises(ValueError, match=r"scale: .* argument 1 .* shape \(3,\) for argument 1, "
                       r"whose shape is \(\)"):
        fd.grad(lambda k: fnp.sum(scale(numpy.arange(3.0), k)))(2.0)
    defvjp(scale, lambda ans, x, k: lambda g: g * k, lambda ans, x, k: lambda g: fnp.sum(g * x))
    assert fd.grad(lambda k: fnp.sum(scale(numpy.arange(3.0), k)))(2.0) == 3.0


def test_a_defjvp_tangent_that_does_not_broadcast_to_the_output_is_refused():
    @primitive
    def square(x):
        return x * x
    defjvp(square, lambda g, ans, x: fnp.reshape(2.0 * g * x, (-1, 1)))
    with pytest.raises(ValueError, match=r"square: the JVP rule of argument 0 \(defjvp\) "
                       r"returned a tangent of shape \(3, 1\), which does not broadcast to the "
                       r"output's shape \(3,\)"):
        fd.jvp(square, (numpy.ones(3),), (numpy.ones(3),))
    defjvp(square, lambda g, ans, x: 2.0 * g * x)
    numpy.testing.assert_array_equal(fd.jacfwd(square)(numpy.ones(3)), 2.0 * numpy.eye(3))


def test_the_jacobian_of_a_custom_vjp_with_residuals_is_right():
    """Residuals get no cotangent (None): the many-cotangent sweep used to
    turn that into NaN."""
    @fd.custom_vjp
    def product(x, y):
        return x * y
    product.defvjp(lambda x, y: (product(x, y), (x, y)),
                   lambda res, g: (g * res[1], g * res[0]))
    x = numpy.array([1.0, 2.0, 3.0])
    expected = numpy.diag(2.0 * x)
    numpy.testing.assert_array_equal(fd.jacrev(lambda x: product(x, x))(x), expected)
    for op in (fd.jacrev, fd.jacobian):  # (jacobian: reverse mode for fewer outputs)
        numpy.testing.assert_array_equal(op(lambda x: product(x, x)[:1])(x), expected[:1])

    @fd.custom_vjp
    def first(x, y):
        return x * y
    first.defvjp(lambda x, y: (first(x, y), (x, y)), lambda res, g: (g * res[1], None))
    numpy.testing.assert_array_equal(fd.jacrev(lambda x: first(x, x))(x), numpy.diag(x))


# -- 4. poles on scalar input ------------------------------------------------------------
# A scalar gives NumPy float64's IEEE result at a pole (inf or nan), as the
# array path does, not ZeroDivisionError.

_POLES = [
    ("sqrt", fnp.sqrt, 0.0), ("cbrt", fnp.cbrt, 0.0), ("log", fnp.log, 0.0),
    ("log1p", fnp.log1p, -1.0), ("log2", fnp.log2, 0.0), ("log10", fnp.log10, 0.0),
    ("arcsin", fnp.arcsin, 1.0), ("arccos", fnp.arccos, 1.0), ("arccosh", fnp.arccosh, 1.0),
    ("arctanh", fnp.arctanh, 1.0), ("reciprocal", fnp.reciprocal, 0.0),
    ("1/x", lambda y: fnp.divide(1.0, y), 0.0), ("x/0", lambda x: fnp.divide(x, 0.0), 1.0),
    ("arctan2", lambda x: fnp.arctan2(x, 0.0), 0.0), ("hypot", lambda x: fnp.hypot(x, 0.0), 0.0),
    ("x**-1", lambda x: fnp.power(x, -1.0), 0.0), ("x**0.5", lambda x: fnp.power(x, 0.5), 0.0),
    ("mod", lambda y: fnp.mod(1.0, y), 0.0), ("prod", fnp.prod, 0.0),
    ("logit at 0", fsp.logit, 0.0), ("logit at 1", fsp.logit, 1.0),
    ("xlogy in y", lambda y: fsp.xlogy(2.0, y), 0.0), ("xlogy in x", lambda x: fsp.xlogy(x, 0.0), 1.0),
    ("xlog1py in y", lambda y: fsp.xlog1py(2.0, y), -1.0), ("digamma", fsp.digamma, 0.0),
    ("gammaln", fsp.gammaln, 0.0), ("gamma", fsp.gamma, 0.0), ("erfinv", fsp.erfinv, 1.0),
    ("ndtri", fsp.ndtri, 0.0), ("y0", fsp.y0, 0.0), ("gammainc", lambda x: fsp.gammainc(0.5, x), 0.0),
    ("betaln", lambda a: fsp.betaln(a, 1.0), 0.0), ("sinc", fnp.sinc, 0.0),
]

#: the registered primitives themselves, called on a traced scalar (the
#: C kernels of the fastad.numpy functions do not see these)
_PRIMITIVE_POLES = [("log", 0.0), ("log1p", -1.0), ("log2", 0.0), ("log10", 0.0), ("sqrt", 0.0),
                    ("cbrt", 0.0), ("arctanh", 1.0)]


def _derivatives(f, p, mode):
    """f's derivative at p on a float, a 0-d array and a 1-d array."""
    inputs = [p, numpy.array(p), numpy.array([p])]
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for x in inputs:
            if mode == "grad":
                d = fd.elementwise_grad(f)(x) if numpy.ndim(x) else fd.grad(f)(x)
            elif mode == "jvp":
                d = fd.jvp(f, (x,), (numpy.ones_like(x) if numpy.ndim(x) else 1.0,))[1]
            elif mode == "jacrev":
                d = fd.jacrev(f)(x)
            else:
                d = fd.hessian(lambda x: fnp.sum(f(x)))(x)
            out.append(float(numpy.ravel(d)[0]))
    return out


@pytest.mark.parametrize("mode", ["grad", "jvp", "jacrev", "hessian"])
@pytest.mark.parametrize("name, f, p", _POLES, ids=[name for name, _, _ in _POLES])
def test_a_pole_on_scalar_input_gives_the_array_paths_ieee_result(name, f, p, mode):
    on_float, on_0d, on_1d = _derivatives(f, p, mode)
    numpy.testing.assert_array_equal([on_float, on_0d], [on_1d, on_1d])


@pytest.mark.parametrize("name, p", _PRIMITIVE_POLES)
def test_a_primitive_at_its_pole_on_a_traced_float(name, p):
    from fastad.ops import REGISTRY
    prim = REGISTRY[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        on_float = fd.grad(prim)(p)
        on_array = fd.elementwise_grad(prim)(numpy.array([p]))
    assert numpy.isinf(on_float) and on_float == on_array[0]


def test_issue_examples_of_poles():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert fd.grad(fsp.logit)(0.0) == numpy.inf
        assert fd.grad(lambda y: fsp.xlogy(2.0, y))(0.0) == numpy.inf
        assert fd.grad(lambda y: fsp.xlog1py(2.0, y))(-1.0) == numpy.inf
        assert fd.grad(lambda x: fsp.xlog1py(x, -1.0))(1.0) == -numpy.inf
        assert fd.grad(fnp.sqrt)(numpy.array(0.0)) == numpy.inf


def test_the_derivative_of_prod_of_a_scalar_is_one_at_zero():
    assert fd.grad(fnp.prod)(0.0) == 1.0
    assert fd.grad(lambda x: fnp.prod(x * 3.0))(0.0) == 3.0


def test_rules_away_from_poles_are_unchanged():
    for name, f, p in _POLES:
        if name in ("x/0", "xlogy in x"):
            continue  # (no pole: infinite everywhere)
        x = numpy.array([p + 0.3 if name not in ("arcsin", "arccos", "arctanh", "erfinv",
                                                     "logit at 1") else p - 0.3])
        if name == "arccosh":
            x = x + 0.5
        numpy.testing.assert_allclose(fd.elementwise_grad(f)(x),
                                      numerical_grad(lambda v: numpy.sum(f(v)), x),
                                      rtol=1e-5, err_msg=name)


# -- 5. axes out of range --------------------------------------------------------------
# Traced input gives what NumPy gives on the plain array: the result where
# NumPy takes the axis (sum(x, axis=0) of a 0-d array is x: NumPy's
# reductions take axis 0 or -1 there), NumPy's AxisError where it does not,
# never an axis wrapped around or "integer modulo by zero".

_AXIS_FUNCTIONS = {
    "sum": (numpy.sum, fnp.sum), "mean": (numpy.mean, fnp.mean), "prod": (numpy.prod, fnp.prod),
    "max": (numpy.max, fnp.max), "min": (numpy.min, fnp.min), "var": (numpy.var, fnp.var),
    "std": (numpy.std, fnp.std), "median": (numpy.median, fnp.median),
    "ptp": (numpy.ptp, fnp.ptp), "average": (numpy.average, fnp.average),
    "cumsum": (numpy.cumsum, fnp.cumsum), "nansum": (numpy.nansum, fnp.nansum),
    "nanmean": (numpy.nanmean, fnp.nanmean), "sort": (numpy.sort, fnp.sort),
    "diff": (numpy.diff, fnp.diff), "trapezoid": (numpy_versions.trapezoid, fnp.trapezoid),
    "flip": (numpy.flip, fnp.flip), "expand_dims": (numpy.expand_dims, fnp.expand_dims),
    "roll": (lambda a, axis: numpy.roll(a, 1, axis=axis),
             lambda a, axis: fnp.roll(a, 1, axis=axis)),
    "take": (lambda a, axis: numpy.take(a, [0], axis=axis),
             lambda a, axis: fnp.take(a, [0], axis=axis)),
    "take_along_axis": (
        lambda a, axis: numpy.take_along_axis(a, numpy.zeros((1,) * numpy.ndim(a), int), axis),
        lambda a, axis: fnp.take_along_axis(a, numpy.zeros((1,) * numpy.ndim(a), int), axis)),
    "repeat": (lambda a, axis: numpy.repeat(a, 2, axis=axis),
               lambda a, axis: fnp.repeat(a, 2, axis=axis)),
    "partition": (lambda a, axis: numpy.partition(a, 0, axis=axis),
                  lambda a, axis: fnp.partition(a, 0, axis=axis)),
    "norm": (lambda a, axis: numpy.linalg.norm(a, axis=axis),
             lambda a, axis: fnp.linalg.norm(a, axis=axis)),
    "vector_norm": (lambda a, axis: numpy_versions.vector_norm(a, axis=axis),
                    lambda a, axis: fnp.linalg.vector_norm(a, axis=axis)),
    "concatenate": (lambda a, axis: numpy.concatenate([a, a], axis=axis),
                    lambda a, axis: fnp.concatenate([a, a], axis=axis)),
    "stack": (lambda a, axis: numpy.stack([a, a], axis=axis),
              lambda a, axis: fnp.stack([a, a], axis=axis)),
    "tensordot": (lambda a, axis: numpy.tensordot(a, a, axes=([axis], [axis])),
                  lambda a, axis: fnp.tensordot(a, a, axes=([axis], [axis]))),
    "vecdot": (lambda a, axis: numpy_versions.vecdot(a, a, axis=axis),
               lambda a, axis: fnp.vecdot(a, a, axis=axis)),
    "logsumexp": (None, fsp.logsumexp), "softmax": (None, fsp.softmax),
}
_INPUTS = {0: numpy.array(0.7), 1: numpy.array([0.3, 1.2, 0.5]),
           2: numpy.array([[0.6, 1.1, 0.9], [1.3, 0.7, 0.8], [0.5, 1.4, 1.0]])}
_AXES = [0, -1, 1, 2, -3, 3, (0,), (0, 0)]


def _outcome(f, x, axis):
    try:
        return numpy.asarray(f(x, axis=axis), numpy.float64), None
    except Exception as e:  # noqa: BLE001 - the exception is what is compared
        return None, e


@pytest.mark.parametrize("name", sorted(_AXIS_FUNCTIONS))
def test_an_axis_argument_on_traced_input_does_what_numpy_does(name):
    import scipy.special
    reference, traced = _AXIS_FUNCTIONS[name]
    if reference is None:
        reference = getattr(scipy.special, name)
    for ndim, x in _INPUTS.items():
        for axis in _AXES:
            if name == "logsumexp" and ndim == 0 and isinstance(axis, tuple):
                continue  # (scipy takes axis (0,) of a 0-d array; NumPy's sum does not)
            expected, refused = _outcome(reference, x, axis)
            seen = []

            def f(x):
                seen.append(traced(x, axis=axis))
                return fnp.sum(fnp.sin(seen[-1]))
            _, error = _outcome(lambda x, axis: fd.grad(f)(x), x, axis)
            where = "%s(ndim %d, axis=%r)" % (name, ndim, axis)
            if refused is not None:
                # (AxisError is a ValueError and an IndexError, as NumPy raises for some)
                assert error is not None and isinstance(error, type(refused)), \
                    "%s: NumPy raises %r, fastad %r" % (where, refused, error)
                assert not isinstance(error, (ZeroDivisionError, TypeError)) or \
                    isinstance(refused, TypeError), where
                continue
            assert error is None, "%s: NumPy gives a result, fastad raises %r" % (where, error)
            numpy.testing.assert_allclose(fd.core.plain(seen[0]), expected, err_msg=where)
            numpy.testing.assert_allclose(
                fd.grad(f)(x),
                numerical_grad(lambda v: numpy.sum(numpy.sin(reference(v, axis=axis))), x),
                rtol=1e-5, atol=1e-7, err_msg=where)


def test_issue_example_axis_on_a_traced_scalar():
    # NumPy: numpy.sum(1.0, axis=0) is 1.0 and numpy.mean(1.0, axis=0) an AxisError
    assert fd.grad(lambda x: fnp.sum(x, axis=0))(1.0) == 1.0
    with pytest.raises(AxisError, match="axis 0 is out of bounds for array of dimension 0"):
        fd.grad(lambda x: fnp.mean(x, axis=0))(1.0)
    with pytest.raises(AxisError, match="axis 0 is out of bounds for array of dimension 0"):
        fd.grad(lambda x: fnp.sum(x, axis=(0,)))(1.0)
    with pytest.raises(AxisError, match="axis 2 is out of bounds for array of dimension 1"):
        fd.grad(lambda x: fnp.sum(fnp.flip(x, axis=2)))(numpy.ones(3))
    with pytest.raises(AxisError, match="axis 3 is out of bounds for array of dimension 2"):
        fd.grad(lambda x: fnp.sum(fnp.diff(x, axis=3) ** 2))(numpy.ones((2, 2)))


# -- 6. empty Jacobians and Hessians ---------------------------------------------------
# JAX: jacobian of R^0 -> R^3 has shape (3, 0), the Hessian of a function
# of a (0,) array (0, 0), of a (0, 2) array (0, 2, 0, 2).

@pytest.mark.parametrize("op", [fd.jacobian, fd.jacfwd, fd.jacrev])
def test_jacobians_of_empty_inputs_and_outputs_have_jaxs_shapes(op):
    assert op(lambda x: fnp.sum(x) * fnp.ones(3))(numpy.zeros(0)).shape == (3, 0)
    assert op(lambda x: x[:0] * 2.0)(numpy.ones(3)).shape == (0, 3)
    assert op(lambda x: x * 2.0)(numpy.zeros(0)).shape == (0, 0)
    assert op(lambda x: x * 2.0)(numpy.zeros((0, 2))).shape == (0, 2, 0, 2)
    tree = op(lambda x: {"a": x * 2.0, "b": fnp.sum(x)})(numpy.zeros(0))
    assert {k: v.shape for k, v in tree.items()} == {"a": (0, 0), "b": (0,)}
    assert op(lambda x: fnp.sum(x) * fnp.ones(3))(numpy.zeros(0, numpy.float32)).dtype == \
        numpy.float32


def test_hessians_of_empty_inputs_have_jaxs_shapes():
    assert fd.hessian(lambda x: fnp.sum(x * x))(numpy.zeros(0)).shape == (0, 0)
    assert fd.hessian(lambda x: fnp.sum(x * x))(numpy.zeros((0, 2))).shape == (0, 2, 0, 2)
    h = fd.hessian(lambda d: fnp.sum(d["a"] ** 2) + fnp.sum(d["b"]))(
        {"a": numpy.ones(2), "b": numpy.zeros(0)})
    numpy.testing.assert_array_equal(h["a"]["a"], 2.0 * numpy.eye(2))
    assert h["a"]["b"].shape == (2, 0) and h["b"]["a"].shape == (0, 2)
    assert h["b"]["b"].shape == (0, 0)


def test_an_empty_jacobian_inside_another_operator():
    assert fd.grad(lambda x: fnp.sum(fd.jacobian(lambda y: y * x)(numpy.zeros(0))) + x)(1.0) == 1.0


# -- 7. defaultdicts (and other dict types) as pytrees -----------------------------------
# JAX treats a defaultdict as a pytree node and returns the gradient as a
# defaultdict with the same default_factory; autograd refuses it.

def test_a_defaultdict_argument_gives_a_defaultdict_gradient():
    d = collections.defaultdict(list, {"a": 1.0, "b": 2.0})
    g = fd.grad(lambda d: d["a"] * d["b"])(d)
    assert type(g) is collections.defaultdict and g.default_factory is list
    assert g == {"a": 2.0, "b": 1.0}
    tangent = collections.defaultdict(list, {"a": 1.0, "b": 0.0})
    assert fd.jvp(lambda d: d["a"] * d["b"], (d,), (tangent,)) == (2.0, 2.0)
    # the default_factory is part of the structure, as in JAX
    other = collections.defaultdict(int, {"a": 1.0, "b": 0.0})
    with pytest.raises(ValueError, match=r"defaultdict\(list, .* but tangents .*defaultdict\(int, "):
        fd.jvp(lambda d: d["a"] * d["b"], (d,), (other,))


def test_ordered_dicts_and_counters_round_trip():
    od = collections.OrderedDict([("b", 2.0), ("a", 1.0)])
    g = fd.grad(lambda d: d["a"] * d["b"])(od)
    assert type(g) is collections.OrderedDict and list(g.items()) == [("b", 1.0), ("a", 2.0)]
    c = collections.Counter({"a": 3.0})
    g = fd.grad(lambda c: c["a"] * c["a"])(c)
    assert type(g) is collections.Counter and g == {"a": 6.0}


# -- 8. structure mismatches name the types and fields -------------------------------------

P = collections.namedtuple("P", "a b")
Q = collections.namedtuple("Q", "c d")


def test_a_namedtuple_mismatch_names_both_structures():
    with pytest.raises(ValueError, match=r"jvp: primals have structure \(P\(a=\*, b=\*\),\) but "
                       r"tangents \(Q\(c=\*, d=\*\),\)"):
        fd.jvp(lambda p: p.a * p.b, (P(1.0, 2.0),), (Q(1.0, 0.0),))
    with pytest.raises(ValueError, match=r"jvp: primals have structure \(P\(a=\*, b=\*\),\) but "
                       r"tangents \(\(\*, \*\),\)"):
        fd.jvp(lambda p: p.a * p.b, (P(1.0, 2.0),), ((1.0, 0.0),))
    _, vjp = fd.vjp(lambda x: P(x, 2.0 * x), 1.0)
    with pytest.raises(ValueError, match=r"cotangent has structure Q\(c=\*, d=\*\) but the "
                       r"function's output has structure P\(a=\*, b=\*\)"):
        vjp(Q(1.0, 1.0))
    assert vjp(P(1.0, 1.0)) == (3.0,)


def test_same_named_types_are_told_apart_by_module():
    from fastad.tree import describe_structures, flatten
    R = collections.namedtuple("P", "a b")
    R.__module__ = "elsewhere"
    left, right = describe_structures(flatten(P(1.0, 2.0))[1], flatten(R(1.0, 2.0))[1])
    assert left != right and "elsewhere.P" in right


def test_make_jvp_refuses_a_tangent_of_another_structure():
    """Leaves paired by position would pair a reordered dict's wrongly."""
    jvp = fd.make_jvp(lambda d: d["a"] * 10.0 + d["b"])({"a": 1.0, "b": 2.0})
    assert jvp({"a": 1.0, "b": 0.0})[1] == 10.0
    with pytest.raises(ValueError, match=r"make_jvp: the tangent has structure \{'b': \*, 'a': "
                       r"\*\} but the primal \{'a': \*, 'b': \*\}"):
        jvp({"b": 0.0, "a": 1.0})
    with pytest.raises(ValueError, match=r"make_jvp: the tangent has structure Q"):
        fd.make_jvp(lambda p: p.a * p.b)(P(1.0, 2.0))(Q(1.0, 0.0))
