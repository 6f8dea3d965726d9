"""Operators, pytrees, dtypes, error messages, tape lifetime and threads."""
import collections
import gc
import math
import threading
import weakref

import numpy
import pytest

import fastad as fd
import fastad.numpy as np


# -- operators ------------------------------------------------------------------

def f(x, y):
    return np.sum(np.sin(x) * y)


def test_grad_argnum_int_tuple_and_argnums_alias(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    numpy.testing.assert_allclose(fd.grad(f)(x, y), numpy.cos(x) * y)
    numpy.testing.assert_allclose(fd.grad(f, 1)(x, y), numpy.sin(x))
    gx, gy = fd.grad(f, (0, 1))(x, y)
    numpy.testing.assert_allclose(gx, numpy.cos(x) * y)
    numpy.testing.assert_allclose(gy, numpy.sin(x))
    gy2, = fd.grad(f, argnums=(1,))(x, y)
    numpy.testing.assert_allclose(gy2, gy)
    numpy.testing.assert_allclose(fd.grad(f, -1)(x, y), gy)


def test_value_and_grad_matches_scipy_jac_true_form(rng):
    x = rng.standard_normal(4)
    value, g = fd.value_and_grad(lambda x: np.sum(x ** 2))(x)
    assert isinstance(value, float)
    numpy.testing.assert_allclose(value, numpy.sum(x ** 2))
    numpy.testing.assert_allclose(g, 2 * x)


def test_elementwise_grad(rng):
    x = rng.standard_normal((2, 3))
    numpy.testing.assert_allclose(fd.elementwise_grad(np.tanh)(x), 1 - numpy.tanh(x) ** 2)


def test_vjp_jax_form(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    out, vjp_fun = fd.vjp(lambda x, y: x * y, x, y)
    numpy.testing.assert_allclose(out, x * y)
    w = rng.standard_normal(3)
    cx, cy = vjp_fun(w)
    numpy.testing.assert_allclose(cx, w * y)
    numpy.testing.assert_allclose(cy, w * x)
    # the VJP function can be called again with another cotangent
    cx2, _ = vjp_fun(2 * w)
    numpy.testing.assert_allclose(cx2, 2 * w * y)


def test_make_vjp_autograd_form(rng):
    x = rng.standard_normal(3)
    vjp_fun, out = fd.make_vjp(lambda x: np.exp(x))(x)
    numpy.testing.assert_allclose(out, numpy.exp(x))
    numpy.testing.assert_allclose(vjp_fun(numpy.ones(3)), numpy.exp(x))


def test_constant_output_has_zero_gradient(rng):
    x = rng.standard_normal(3)
    numpy.testing.assert_array_equal(fd.grad(lambda x: 3.0)(x), numpy.zeros(3))
    assert fd.grad(lambda x: 1.0)(2.0) == 0.0


def test_unused_array_input_gets_zeros(rng):
    x, y = rng.standard_normal(3), rng.standard_normal(2)
    gx, gy = fd.grad(lambda x, y: np.sum(x), (0, 1))(x, y)
    numpy.testing.assert_array_equal(gy, numpy.zeros(2))


def test_non_differentiated_arguments_pass_through(rng):
    x = rng.standard_normal(3)
    g = fd.grad(lambda x, n, name: np.sum(x ** n) if name == "p" else 0.0)(x, 3, "p")
    numpy.testing.assert_allclose(g, 3 * x ** 2)


def test_keyword_arguments_are_not_differentiated(rng):
    x = rng.standard_normal(3)
    numpy.testing.assert_allclose(fd.grad(lambda x, scale=1.0: np.sum(x) * scale)(x, scale=2.0),
                                  2 * numpy.ones(3))


# -- pytrees and dtypes ---------------------------------------------------------

def test_pytree_gradients_keep_structure(rng):
    params = {"w": rng.standard_normal((2, 3)), "b": [rng.standard_normal(3), 1.5],
              "s": (numpy.float64(2.0),)}

    def loss(p):
        return np.sum(p["w"] ** 2) + np.sum(p["b"][0]) * p["b"][1] + p["s"][0] ** 3
    g = fd.grad(loss)(params)
    assert list(g) == ["w", "b", "s"] and isinstance(g["b"], list) and isinstance(g["s"], tuple)
    numpy.testing.assert_allclose(g["w"], 2 * params["w"])
    numpy.testing.assert_allclose(g["b"][0], numpy.full(3, 1.5))
    assert isinstance(g["b"][1], float) and g["b"][1] == pytest.approx(numpy.sum(params["b"][0]))
    assert isinstance(g["s"][0], numpy.float64) and g["s"][0] == 12.0


def test_pytree_outputs_in_vjp(rng):
    x = rng.standard_normal(3)
    out, vjp_fun = fd.vjp(lambda x: {"a": x * 2, "b": (np.sum(x),)}, x)
    assert set(out) == {"a", "b"}
    (cx,) = vjp_fun({"a": numpy.ones(3), "b": (1.0,)})
    numpy.testing.assert_allclose(cx, numpy.full(3, 3.0))


def test_float32_stays_float32(rng):
    x = rng.standard_normal((3, 4)).astype(numpy.float32)
    W = rng.standard_normal((4, 2)).astype(numpy.float32)

    def loss(x, W):
        out = np.tanh(x @ W) * 2.0 + 1.0
        assert out.dtype == numpy.float32
        return np.sum(out ** 2)
    value, (gx, gW) = fd.value_and_grad(loss, (0, 1))(x, W)
    assert gx.dtype == numpy.float32 and gW.dtype == numpy.float32
    assert numpy.asarray(value).dtype == numpy.float32
    s = numpy.float32(0.5)
    gs = fd.grad(lambda s: np.sum(s * x))(s)
    assert isinstance(gs, numpy.float32)


def test_broadcasting_float32_against_float64_scalar(rng):
    x = rng.standard_normal(3).astype(numpy.float32)
    g = fd.grad(lambda x, a: np.sum(x * a), 1)(x, 2.0)
    assert isinstance(g, float)
    numpy.testing.assert_allclose(g, float(numpy.sum(x)), rtol=1e-6)


# -- traced scalars behave like floats ------------------------------------------

def test_scalar_operators_both_orders():
    def f(x):
        return (2.0 + x) * (x - 1) / (3 - x) + 2 ** x + x ** 2 - (-x) + abs(-x) + 1 / x
    x = 0.7
    g = fd.grad(f)(x)
    numpy.testing.assert_allclose(g, fd.numerical_grad(f, x), rtol=1e-8)


def test_scalar_mixed_with_numpy_scalars_and_arrays():
    def f(x):
        a = numpy.float64(2.0) * x + numpy.int64(3) * x + numpy.float32(0.5) * x
        v = numpy.arange(3.0) * x + x * numpy.ones(3)
        return a + np.sum(v)
    assert fd.grad(f)(1.5) == pytest.approx(5.5 + 3 + 3)


def test_comparisons_and_python_branches():
    def f(x):
        if x > 0:
            return x * x
        return -x
    assert fd.grad(f)(3.0) == 6.0
    assert fd.grad(f)(-3.0) == -1.0
    assert fd.grad(lambda x: max(x, 2.0 * x))(1.0) == 2.0
    assert fd.grad(lambda x: x if x else 0.0)(1.0) == 1.0


def test_numpy_ufuncs_on_traced_values(rng):
    x = rng.standard_normal(3)
    g = fd.grad(lambda x: numpy.sum(numpy.sin(x) * numpy.exp(x)))(x)
    numpy.testing.assert_allclose(g, numpy.cos(x) * numpy.exp(x) + numpy.sin(x) * numpy.exp(x))
    assert fd.grad(lambda s: numpy.sin(s) + numpy.float64(1.0) * s)(0.0) == 2.0


def test_array_methods_and_attributes(rng):
    x = rng.standard_normal((2, 3))

    def f(x):
        assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
        assert x.T.shape == (3, 2) and x.dtype == numpy.float64
        return x.sum() + x.mean(axis=0).max() + x.reshape(6).dot(numpy.arange(6.0))
    fd.check_grads(f, x, modes=("rev",))


# -- errors ---------------------------------------------------------------------

def test_grad_of_non_scalar_points_to_jacobian(rng):
    with pytest.raises(TypeError, match=r"scalar output.*shape \(3,\).*jacobian.*elementwise_grad"):
        fd.grad(np.sin)(rng.standard_normal(3))


@pytest.mark.parametrize("bad, what", [
    (2, "int"), (True, "bool"), (numpy.arange(3), "int64"), ("s", "str"), (None, None),
])
def test_non_float_inputs_are_refused(bad, what):  # (complex inputs: tests/test_complex.py)
    if bad is None:  # None is an empty pytree: nothing to differentiate
        assert fd.grad(lambda x: 1.0)(None) is None
        return
    with pytest.raises(TypeError, match=what):
        fd.grad(lambda x: x)(bad)


def test_argnum_out_of_range():
    with pytest.raises(ValueError, match="argnum 2 is out of range.*2 positional arguments"):
        fd.grad(lambda x, y: x * y, 2)(1.0, 2.0)
    with pytest.raises(TypeError, match="argnum must be an int"):
        fd.grad(lambda x: x, "0")(1.0)


def test_vjp_cotangent_shape_mismatch(rng):
    _, vjp_fun = fd.vjp(np.sin, rng.standard_normal(3))
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\)"):
        vjp_fun(numpy.ones(2))
    with pytest.raises(ValueError, match="structure"):
        vjp_fun((numpy.ones(3),))


def test_float_conversion_of_traced_value_is_refused():
    import math
    with pytest.raises(TypeError, match="math.sin"):
        fd.grad(lambda x: math.sin(x))(1.0)
    with pytest.raises(TypeError, match="float"):
        fd.grad(lambda x: float(x))(1.0)


def test_numpy_function_without_rule_names_the_problem(rng):
    with pytest.raises(TypeError, match="numpy.nanmedian has no differentiation rule"):
        fd.grad(lambda x: numpy.nanmedian(x))(rng.standard_normal(3))
    with pytest.raises(TypeError, match="fastad.numpy function"):
        fd.grad(lambda x: numpy.asarray(x).sum())(rng.standard_normal(3))


def test_traced_array_is_immutable(rng):
    def f(x):
        x[0] = 1.0
        return np.sum(x)
    with pytest.raises(TypeError, match="immutable"):
        fd.grad(f)(rng.standard_normal(3))


def test_escaped_tracer_is_refused():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2
    fd.grad(f)(1.0)
    with pytest.raises(fd.TracerError, match="escaped"):
        leaked[0] * 3.0
    with pytest.raises(fd.TracerError, match="two different differentiation calls"):
        fd.grad(lambda y: y * leaked[0])(2.0)


def test_exception_inside_function_leaves_nothing_active():
    def boom(x):
        x * 2
        raise KeyError("inside")
    with pytest.raises(KeyError):
        fd.grad(boom)(1.0)
    assert fd.grad(lambda x: x * x)(3.0) == 6.0


def test_nan_and_inf_propagate_per_ieee():
    assert numpy.isnan(fd.grad(np.sqrt)(-1.0))
    assert fd.grad(np.log)(0.0) == numpy.inf
    value, g = fd.value_and_grad(lambda x: x / 0.0)(1.0)
    assert value == numpy.inf and g == numpy.inf


# -- memory and threads ----------------------------------------------------------

def test_tape_is_freed_after_grad():
    refs = []

    def f(x):
        refs.append(weakref.ref(x.tape))
        return x * x
    fd.grad(f)(2.0)
    gc.collect()
    assert refs[0]() is None


def test_tape_freed_without_the_collector():
    """No reference cycles: the tape goes when its last reference goes."""
    refs = []

    def f(x):
        refs.append(weakref.ref(x.tape))
        return np.sum(np.tanh(x) @ numpy.ones((3, 2)))
    gc.disable()
    try:
        fd.grad(f)(numpy.ones((2, 3)))
        assert refs[0]() is None
    finally:
        gc.enable()


def test_two_threads_differentiate_different_functions():
    errors = []

    def worker(fun, x, expected):
        try:
            for _ in range(300):
                g = fd.grad(fun)(x)
                if not numpy.allclose(g, expected, rtol=1e-12):
                    errors.append(g)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def chain(x):
        for _ in range(200):
            x = np.sin(x) * 1.01
        return x
    x0 = 0.3
    expected_chain = fd.grad(chain)(x0)
    arr = numpy.linspace(0.1, 1.0, 50)
    threads = [threading.Thread(target=worker, args=(chain, x0, expected_chain)),
               threading.Thread(target=worker, args=(lambda a: np.sum(np.exp(a) * a), arr,
                                                    numpy.exp(arr) * (1 + arr)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


@pytest.mark.parametrize("constant", [1.5, 2, numpy.float64(1.5), numpy.int64(2), numpy.float32(1.5),
                                      True], ids=lambda c: type(c).__name__)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "pow"])
def test_scalar_operator_with_every_constant_type(op, constant):
    """Traced scalars are float64: a constant of any real type joins as a
    float64 constant (a float32 constant does not demote the result)."""
    import operator
    fun = getattr(operator, op)
    x, c = 1.25, float(constant)
    for reflected in (False, True):
        f = (lambda t: fun(constant, t)) if reflected else (lambda t: fun(t, constant))
        reference = (lambda t: fun(c, t)) if reflected else (lambda t: fun(t, c))
        value, g = fd.value_and_grad(f)(x)
        assert isinstance(value, float) and value == reference(x)
        numpy.testing.assert_allclose(g, fd.numerical_grad(reference, x), rtol=1e-8)


def test_broadcast_operand_under_a_sum_gets_every_contribution(rng):
    """Regression: a reduction's unexpanded cotangent reaching a broadcast
    input must still be summed over the broadcast axes."""
    x = rng.standard_normal((2, 3))
    assert fd.grad(lambda b: np.sum(x + b))(1.0) == 6.0
    numpy.testing.assert_allclose(fd.grad(lambda b: np.sum(x - b))(numpy.ones(3)), -2 * numpy.ones(3))
    numpy.testing.assert_allclose(fd.grad(lambda b: np.mean(b + x, axis=0).sum())(numpy.ones((1, 3))),
                                  numpy.ones((1, 3)))
    g = fd.grad(lambda v: np.sum(v - np.max(v, axis=1, keepdims=True)))(x)
    numpy.testing.assert_allclose(g, numpy.ones((2, 3)) - 3 * (x == x.max(axis=1, keepdims=True)))


# The reverse steps of unary elementwise functions, and of arithmetic with a
# float constant, on contiguous float64 arrays run in C (csrc fa_unary_vjp,
# fa_constant_vjp); these check them against the derivatives by formula,
# with fan-out (in-place accumulation) and against the rules' own path
# (a float32 array, or a non-contiguous one, takes the rules).
UNARY_DERIVATIVES = [
    ("negative", lambda x: -numpy.ones_like(x), (-2, 2)),
    ("absolute", numpy.sign, (-2, 2)),
    ("square", lambda x: 2 * x, (-2, 2)),
    ("sqrt", lambda x: 0.5 / numpy.sqrt(x), (0.5, 2)),
    ("cbrt", lambda x: 1 / (3 * numpy.cbrt(x) ** 2), (0.5, 2)),
    ("reciprocal", lambda x: -1 / x ** 2, (0.5, 2)),
    ("exp", numpy.exp, (-2, 2)),
    ("exp2", lambda x: numpy.exp2(x) * numpy.log(2), (-2, 2)),
    ("expm1", numpy.exp, (-2, 2)),
    ("log", lambda x: 1 / x, (0.5, 2)),
    ("log1p", lambda x: 1 / (1 + x), (0.5, 2)),
    ("log2", lambda x: 1 / (x * numpy.log(2)), (0.5, 2)),
    ("log10", lambda x: 1 / (x * numpy.log(10)), (0.5, 2)),
    ("sin", numpy.cos, (-2, 2)),
    ("cos", lambda x: -numpy.sin(x), (-2, 2)),
    ("tan", lambda x: 1 / numpy.cos(x) ** 2, (-1, 1)),
    ("arcsin", lambda x: 1 / numpy.sqrt(1 - x * x), (-0.9, 0.9)),
    ("arccos", lambda x: -1 / numpy.sqrt(1 - x * x), (-0.9, 0.9)),
    ("arctan", lambda x: 1 / (1 + x * x), (-2, 2)),
    ("sinh", numpy.cosh, (-2, 2)),
    ("cosh", numpy.sinh, (-2, 2)),
    ("tanh", lambda x: 1 - numpy.tanh(x) ** 2, (-2, 2)),
    ("arcsinh", lambda x: 1 / numpy.sqrt(x * x + 1), (-2, 2)),
    ("arccosh", lambda x: 1 / numpy.sqrt(x * x - 1), (1.5, 3)),
    ("arctanh", lambda x: 1 / (1 - x * x), (-0.9, 0.9)),
]


@pytest.mark.parametrize("name, derivative, domain", UNARY_DERIVATIVES, ids=[u[0] for u in UNARY_DERIVATIVES])
def test_unary_reverse_steps_in_c_match_the_formula(rng, name, derivative, domain):
    f = getattr(np, name)
    x = rng.uniform(*domain, size=(3, 4))
    # two uses of f(x): the second accumulates in place into the first's adjoint
    grad = fd.grad(lambda x: np.sum(f(x) * 0.5) + np.sum(f(x) / 4.0))(x)
    numpy.testing.assert_allclose(grad, 0.75 * derivative(x), rtol=1e-13, atol=1e-15)
    # the rules' path (a float32 array) agrees
    grad32 = fd.grad(lambda x: np.sum(f(x) * 0.5) + np.sum(f(x) / 4.0))(x.astype(numpy.float32))
    numpy.testing.assert_allclose(grad32, grad, rtol=2e-5, atol=1e-6)


def test_constant_arithmetic_reverse_steps_in_c(rng):
    x = rng.uniform(0.5, 2.0, 6)
    cases = [
        (lambda x: x + 3.0, numpy.ones_like(x)), (lambda x: 3.0 + x, numpy.ones_like(x)),
        (lambda x: x - 3.0, numpy.ones_like(x)), (lambda x: 3.0 - x, -numpy.ones_like(x)),
        (lambda x: x * 3.0, 3.0 * numpy.ones_like(x)), (lambda x: 3.0 * x, 3.0 * numpy.ones_like(x)),
        (lambda x: x / 4.0, numpy.full_like(x, 0.25)), (lambda x: 3.0 / x, -3.0 / x ** 2),
    ]
    for f, expected in cases:
        once = fd.grad(lambda x: np.sum(np.sin(f(x))))(x)
        y = x * 1.0
        numpy.testing.assert_allclose(once, numpy.cos(f(y)) * expected, rtol=1e-14)
        # non-contiguous input: the rules' path, the same figures
        wide = numpy.repeat(x, 2)[::2]
        numpy.testing.assert_allclose(fd.grad(lambda x: np.sum(np.sin(f(x))))(wide), once,
                                      rtol=1e-15)
    # infinities flow as IEEE says (the rule is 2 / x wherever log was taken)
    with numpy.errstate(divide="ignore", invalid="ignore"):
        g = fd.grad(lambda x: np.sum(np.log(x) * 2.0))(numpy.array([0.0, -1.0, 1.0]))
    assert g.tolist() == [numpy.inf, -2.0, 2.0]


def test_gradients_never_alias_inputs_cotangents_or_each_other(rng):
    # a rule's fresh result becomes the adjoint without a copy; anything
    # shared (an input, a cotangent passed through, a view) is copied
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal((4, 2))
    ct = rng.standard_normal((3, 4))
    out, vjp = fd.vjp(lambda x: x * 1.0 + 0.0, x)
    (gx,) = vjp(ct)
    assert not numpy.shares_memory(gx, ct)
    gx[...] = 0.0
    assert (ct != 0).all()
    ga, gb = fd.grad(lambda a, b: np.sum(a @ b) + np.sum(a[:, :2] @ b[:2]), (0, 1))(x, w)
    for g in (ga, gb):
        assert not numpy.shares_memory(g, x) and not numpy.shares_memory(g, w)
    assert not numpy.shares_memory(ga, gb)
    # fan-in onto a fresh adjoint accumulates in place, once per use
    g = fd.grad(lambda a: np.sum(a @ w) + np.sum(a @ w) * 2.0)(x)
    numpy.testing.assert_allclose(g, 3.0 * numpy.tile(w.sum(1), (3, 1)), rtol=1e-14)


@pytest.mark.parametrize("dtype", [numpy.float64, numpy.float32])
def test_relu_reverse_step_in_c_keeps_the_tie_rule(dtype):
    # maximum(x, c) / minimum(x, c) with a float constant: 1 where x is the
    # result, 1/2 on a tie, 0 elsewhere and where the result is NaN
    x = numpy.array([[-1.0, 0.0, 2.0], [numpy.nan, 0.5, -0.0]], dtype)
    with numpy.errstate(invalid="ignore"):
        g = fd.grad(lambda x: np.sum(np.maximum(x, 0.0) * 3.0))(x)
        h = fd.grad(lambda x: np.sum(np.minimum(x, 0.5)))(x)
    assert g.dtype == dtype and h.dtype == dtype
    numpy.testing.assert_array_equal(g, numpy.array([[0, 1.5, 3], [0, 3, 1.5]], dtype))
    numpy.testing.assert_array_equal(h, numpy.array([[1, 1, 0], [0, 0.5, 1]], dtype))


def test_c_steps_with_integer_and_array_constants(rng):
    # x ** 2 with an int exponent, x * 3 with an int, x * a and x / a with a
    # plain array: C steps in reverse and forward; the same figures as formulas
    x = rng.uniform(0.5, 2.0, 5)
    a = rng.uniform(0.5, 2.0, 5)
    f = lambda x: np.sum(np.sin(x ** 2) * 3 + (x * a) / a ** 2 + x / a)  # noqa: E731
    expected = numpy.cos(x ** 2) * 2 * x * 3 + 1 / a + 1 / a
    numpy.testing.assert_allclose(fd.grad(f)(x), expected, rtol=1e-14)
    v = rng.standard_normal(5)
    numpy.testing.assert_allclose(fd.jvp(f, (x,), (v,))[1], expected @ v, rtol=1e-13)
    hessian = numpy.diag(6 * numpy.cos(x ** 2) - 12 * x * x * numpy.sin(x ** 2))
    numpy.testing.assert_allclose(fd.hessian(f)(x), hessian, rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(fd.record(f, x).hvp(x, v), hessian @ v, rtol=1e-12)


def test_arcsin_and_arccos_derivatives_keep_precision_near_one():
    """1/sqrt((1 - x)(1 + x)): 1 - x*x would lose half the digits at x = 1 - 1e-10."""
    from fractions import Fraction
    x = 1.0 - 1e-10
    exact = 1.0 / math.sqrt(float((1 - Fraction(x)) * (1 + Fraction(x))))
    for fun, sign in ((np.arcsin, 1.0), (np.arccos, -1.0)):
        assert fd.grad(fun)(x) == pytest.approx(sign * exact, rel=1e-15)
        g = fd.grad(lambda v: np.sum(fun(v)))(numpy.array([x, -x]))
        numpy.testing.assert_allclose(g, sign * exact, rtol=1e-15)


def test_tree_map_matches_dict_entries_by_key():
    # (leaves were paired by position: {'a': 11.0, 'b': 22.0})
    out = fd.tree_map(lambda x, y: x + y, {"a": 1.0, "b": 2.0}, {"b": 10.0, "a": 20.0})
    assert out == {"a": 21.0, "b": 12.0}


@pytest.mark.parametrize("other", [[10.0, 20.0, 30.0], (10.0,), [10.0, 20.0], {"a": 1.0}])
def test_tree_map_refuses_another_structure(other):
    # (a longer list, or a list for a tuple, was accepted; a shorter one raised StopIteration)
    with pytest.raises(ValueError, match="does not have the structure of the first tree"):
        fd.tree_map(lambda x, y: x + y, (1.0, 2.0), other)


def test_tree_map_takes_a_prefix_tree_as_jax_does():
    out = fd.tree_map(lambda x, y: (x, y), (1.0, 2.0), ([1, 2], {"q": 3}))
    assert out == ((1.0, [1, 2]), (2.0, {"q": 3}))


def test_unflatten_with_too_few_leaves_is_a_value_error():
    leaves, treedef = fd.extend.flatten({"w": [1.0, 2.0], "b": 3.0})
    with pytest.raises(ValueError, match="too few leaves"):
        fd.extend.unflatten(treedef, [1.0, 2.0])


@pytest.mark.parametrize("tree", [[1.0, 2.0], (1.0, 2, 3j), [], (), {}, [1.0] * 300,
                                  collections.defaultdict(list), [collections.defaultdict(list)],
                                  [1.0, [2.0, 3.0]], (numpy.ones(2), numpy.float64(2.0)),
                                  {"w": [1.0, 2.0], "b": (3.0,)}])
def test_flat_lists_and_tuples_flatten_and_come_back(tree):
    # flat lists and tuples of leaves take a path of their own (shared
    # structures, known by identity when unflattened): the same results
    leaves, treedef = fd.extend.flatten(tree)
    rebuilt = fd.extend.unflatten(treedef, leaves)
    assert type(rebuilt) is type(tree) and repr(rebuilt) == repr(tree)
    assert treedef == fd.extend.flatten(rebuilt)[1]
    if leaves:
        with pytest.raises(ValueError, match="too few leaves"):
            fd.extend.unflatten(treedef, leaves[:-1])
    with pytest.raises(ValueError, match="too many leaves"):
        fd.extend.unflatten(treedef, leaves + [0.0])


def test_a_vjp_function_made_outside_a_trace_differentiates_inside_one():
    # (NotImplementedError before; autograd differentiates it: the VJP is linear in
    # the cotangent, with the recorded values as constants)
    x0 = numpy.array([0.3, 1.2, -0.5])
    _, vjp_fun = fd.vjp(lambda x: np.sin(x) * x ** 2, x0)
    derivative = numpy.cos(x0) * x0 ** 2 + 2 * x0 * numpy.sin(x0)
    c0 = numpy.array([1.0, 2.0, 3.0])
    numpy.testing.assert_allclose(fd.grad(lambda c: np.sum(vjp_fun(c)[0] ** 2))(c0),
                                  2 * derivative ** 2 * c0, rtol=1e-13)
    _, tangent = fd.jvp(lambda c: vjp_fun(c)[0], (c0,), (c0,))
    numpy.testing.assert_allclose(tangent, derivative * c0, rtol=1e-13)
    vjp_scalar, _ = fd.make_vjp(lambda x: x ** 3 * np.sin(x))(0.7)  # the scalar C tape
    assert fd.grad(lambda c: vjp_scalar(c) ** 2)(2.0) == pytest.approx(
        4 * (3 * 0.49 * numpy.sin(0.7) + 0.343 * numpy.cos(0.7)) ** 2, rel=1e-13)
    big = numpy.linspace(0.1, 1.0, 100_000)  # fused programs
    _, vjp_big = fd.vjp(lambda x: np.sum(x * x + 2.0 * x), big)
    assert fd.grad(lambda c: np.sum(vjp_big(c)[0]))(1.0) == pytest.approx(
        numpy.sum(2 * big + 2), rel=1e-12)


def test_numpy_integer_scalar_types_cast_traced_values():
    # numpy.int64(traced) (autograd's test_cast_to_int) was a TypeError: an integer
    # cast is piecewise constant, so it gives the plain integers, guarded on replay
    W = numpy.random.default_rng(1).standard_normal((5, 4))
    W[:, -1] = [0, 1, 2, 3, 4]

    def fun(W):
        rows = numpy.int64(W[:, -1])
        assert rows.dtype == numpy.int64 and type(rows) is numpy.ndarray
        return np.sum(W[:, :-1][rows])
    numpy.testing.assert_array_equal(fd.grad(fun)(W)[:, :-1], numpy.ones((5, 3)))
    assert fd.grad(lambda x: x * int(numpy.int32(x)))(3.7) == 3.0
    with pytest.raises(TypeError):
        fd.grad(lambda x: np.sum(numpy.float64(x)))(numpy.ones(2))  # would drop the derivative
    tape = fd.record(fun, W)
    moved = W.copy()
    moved[:, -1] = 1.0
    with pytest.raises(fd.RetapeRequired, match="astype"):
        tape(moved)
