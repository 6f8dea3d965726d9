"""User-defined primitives (autograd form) and custom VJPs (JAX form)."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
from fastad.extend import defjvp, defvjp, primitive


@primitive
def logsumexp(x):
    m = numpy.max(x)
    return m + numpy.log(numpy.sum(numpy.exp(x - m)))


defvjp(logsumexp, lambda ans, x: lambda g: g * fnp.exp(x - ans))
defjvp(logsumexp, lambda g, ans, x: fnp.sum(g * fnp.exp(x - ans)))


def test_primitive_with_autograd_rules(rng):
    x = rng.standard_normal(4)
    numpy.testing.assert_allclose(fd.grad(logsumexp)(x), numpy.exp(x) / numpy.exp(x).sum())
    assert logsumexp.__name__ == "logsumexp"
    fd.check_grads(logsumexp, x, modes=("fwd", "rev"), order=2)
    # used in every mode, and nested
    H = fd.hessian(logsumexp)(x)
    p = numpy.exp(x) / numpy.exp(x).sum()
    numpy.testing.assert_allclose(H, numpy.diag(p) - numpy.outer(p, p), rtol=1e-12, atol=1e-14)


def test_primitive_without_rules_says_so():
    @primitive
    def cube(x):
        return x ** 3
    assert cube(2.0) == 8.0
    with pytest.raises(NotImplementedError, match="VJP of cube.*defvjp"):
        fd.grad(cube)(2.0)
    with pytest.raises(NotImplementedError, match="JVP of cube.*defjvp"):
        fd.jvp(cube, (2.0,), (1.0,))


def test_defvjp_argnums_and_non_differentiable_argument():
    @primitive
    def scale(x, k):
        return x * k
    defvjp(scale, lambda ans, x, k: lambda g: g * k, None)
    assert fd.grad(scale)(3.0, 2.0) == 2.0
    assert fd.grad(scale, 1)(3.0, 2.0) == 0.0


def test_custom_vjp_jax_form_nests():
    @fd.custom_vjp
    def f(x, y):
        return fnp.sin(x) * y

    def f_fwd(x, y):
        return f(x, y), (fnp.cos(x), fnp.sin(x), y)

    def f_bwd(res, g):
        c, s, y = res
        return (g * c * y, g * s)
    f.defvjp(f_fwd, f_bwd)
    x, y = 0.3, 2.0
    assert f(x, y) == numpy.sin(x) * y
    gx, gy = fd.grad(f, (0, 1))(x, y)
    numpy.testing.assert_allclose([gx, gy], [numpy.cos(x) * y, numpy.sin(x)])
    numpy.testing.assert_allclose(fd.grad(fd.grad(f))(x, y), -numpy.sin(x) * y)
    fd.check_grads(f, numpy.array([0.3, 0.4]), numpy.array([1.0, 2.0]), modes=("rev",), order=2)


def test_custom_vjp_rule_is_the_one_used():
    """A custom rule replaces the derivative of the function's own ops
    (here a clipped gradient)."""
    @fd.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1.0, 1.0),))
    assert fd.grad(lambda x: 5.0 * clip_gradient(x))(2.0) == 1.0


def test_custom_vjp_errors():
    @fd.custom_vjp
    def f(x):
        return x * 2
    with pytest.raises(NotImplementedError, match="defvjp"):
        fd.grad(f)(1.0)
    f.defvjp(lambda x: (f(x), None), lambda res, g: g)
    with pytest.raises(ValueError, match="tuple of 1 cotangents"):
        fd.grad(f)(1.0)


def test_a_custom_rule_returning_one_array_twice_is_not_aliased():
    @fd.custom_vjp
    def pair(a, b):
        return a * b

    def fwd(a, b):
        return pair(a, b), (a, b)

    shared = numpy.ones(3)

    def bwd(residuals, g):
        shared[...] = g  # one array for both arguments, and kept by the rule
        return shared, shared
    pair.defvjp(fwd, bwd)
    a, b = numpy.array([1.0, 2.0, 3.0]), numpy.array([4.0, 5.0, 6.0])
    ga, gb = fd.grad(lambda a, b: fnp.sum(pair(a, b)) + fnp.sum(a * 2.0) , (0, 1))(a, b)
    numpy.testing.assert_array_equal(ga, [3.0, 3.0, 3.0])
    numpy.testing.assert_array_equal(gb, [1.0, 1.0, 1.0])
    assert not numpy.shares_memory(ga, shared) and not numpy.shares_memory(gb, shared)


def _scale():
    @primitive
    def scale(x, k):
        return x * k
    return scale


def test_defvjp_without_a_maker_for_an_argument_raises_when_it_is_differentiated():
    # (the gradient was silently 0.0; autograd raises too)
    scale = _scale()
    defvjp(scale, lambda ans, x, k: lambda g: g * k)
    assert fd.grad(scale)(2.0, 3.0) == 3.0
    with pytest.raises(NotImplementedError, match="argument 1 of|argument 1 is not defined"):
        fd.grad(scale, 1)(2.0, 3.0)
    defvjp(scale, lambda ans, x, k: lambda g: g * x, argnums=[1])  # replaces the first call
    assert fd.grad(scale, 1)(2.0, 3.0) == 2.0
    with pytest.raises(NotImplementedError, match="argument 0 is not defined"):
        fd.grad(scale, 0)(2.0, 3.0)


def test_defvjp_maker_none_is_a_zero_derivative():
    scale = _scale()
    defvjp(scale, lambda ans, x, k: lambda g: g * k, None)
    assert fd.grad(scale, (0, 1))(2.0, 3.0) == (3.0, 0.0)


def test_defjvp_without_a_rule_for_an_argument_raises_when_it_has_a_tangent():
    scale = _scale()
    defjvp(scale, lambda g, ans, x, k: g * k)
    assert fd.jvp(scale, (2.0, 3.0), (1.0, 0.0)) == (6.0, 3.0)
    with pytest.raises(NotImplementedError, match="JVP of scale with respect to argument 1"):
        fd.jvp(scale, (2.0, 3.0), (1.0, 1.0))
