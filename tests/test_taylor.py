"""Taylor coefficients against closed forms and against nested forward
derivatives, for every op with a Taylor rule."""
import math

import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
import fastad.scipy.special as fsp
from test_ops import BINARY, UNARY, sample


def directional(fun, x, v, order):
    """d^k/dt^k fun(x + t v) / k! at 0 by nesting deriv (the independent check)."""
    g = lambda t: fun(x + t * v)  # noqa: E731
    out, k_fact = [], 1.0
    for k in range(order + 1):
        out.append(numpy.asarray(g(0.0)) / k_fact)
        g = fd.deriv(g)
        k_fact *= k + 1
    return out


def check_taylor(fun, x, v, order=3, rtol=1e-9, atol=1e-10):
    coefficients = fd.taylor(fun, x, v, order)
    expected = directional(fun, x, v, order)
    for k, (c, e) in enumerate(zip(coefficients, expected)):
        numpy.testing.assert_allclose(c, e, rtol=rtol, atol=atol, err_msg="coefficient %d" % k)


@pytest.mark.parametrize("name, closed_form", [
    ("sin", lambda x, k: math.sin(x + k * math.pi / 2)),
    ("cos", lambda x, k: math.cos(x + k * math.pi / 2)),
    ("exp", lambda x, k: math.exp(x)),
    ("log", lambda x, k: math.log(x) if k == 0 else (-1) ** (k - 1) * math.factorial(k - 1) / x ** k),
])
def test_closed_forms_to_order_eight(name, closed_form):
    x = 0.7
    coefficients = fd.taylor(getattr(fnp, name), x, 1.0, 8)
    for k, c in enumerate(coefficients):
        numpy.testing.assert_allclose(c, closed_form(x, k) / math.factorial(k), rtol=1e-12,
                                      err_msg="order %d" % k)


def test_tanh_against_nested_derivatives():
    check_taylor(fnp.tanh, 0.4, 1.0, order=5)


def test_lecture_taylor_term_is_k_factorial_times_coefficient(rng):
    """D^k f(x) delta^k = k! c_k; for k = 2 that is delta^T H delta."""
    f = lambda x: fnp.sum(fnp.exp(x) * fnp.sin(x[::-1]))  # noqa: E731
    x, delta = rng.standard_normal(3), rng.standard_normal(3)
    c = fd.taylor(f, x, delta, 2)
    numpy.testing.assert_allclose(2 * c[2], delta @ fd.hessian(f)(x) @ delta, rtol=1e-12)
    numpy.testing.assert_allclose(c[1], fd.grad(f)(x) @ delta, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_scalar_and_array(name, rng):
    fun = getattr(fnp, name)
    x = sample(rng, UNARY[name], (3,))
    check_taylor(fun, float(x[0]), 0.7)
    check_taylor(fun, x, rng.standard_normal(3) * 0.5)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_scalar_and_array(name, rng):
    fun = getattr(fnp, name)
    dx, dy = BINARY[name]
    x, y = sample(rng, dx, (2, 3)), sample(rng, dy, (3,))
    check_taylor(lambda x: fun(x, y), x, rng.standard_normal((2, 3)) * 0.3)
    check_taylor(lambda y: fun(x, y), y, rng.standard_normal(3) * 0.3)
    check_taylor(lambda x: fun(x[0], x[1]), numpy.array([x[0, 0], y[0]]),
                 rng.standard_normal(2) * 0.3)


@pytest.mark.parametrize("case", [
    ("sum-axis", lambda x: fnp.sum(fnp.sin(x), axis=1)),
    ("mean", lambda x: fnp.mean(x ** 3)),
    ("max", lambda x: fnp.max(fnp.exp(x), axis=0)),
    ("reshape-T", lambda x: fnp.reshape(fnp.tanh(x), (3, 2)).T),
    ("getitem", lambda x: fnp.exp(x)[1, ::2]),
    ("concatenate", lambda x: fnp.concatenate([x, fnp.sin(x)], axis=1)),
    ("stack", lambda x: fnp.stack([x[0] * x[1], x[1]])),
    ("where", lambda x: fnp.where(x > 0, x ** 2, fnp.sin(x))),
    ("matmul", lambda x: fnp.matmul(x, x.T)),
    ("dot-const", lambda x: fnp.dot(fnp.exp(x), numpy.ones((3, 2)))),
    ("outer", lambda x: fnp.outer(x[0], fnp.cos(x[1]))),
    ("logsumexp", lambda x: fsp.logsumexp(x, axis=1)),
    ("expit", lambda x: fsp.expit(x)),
    ("scalar-loop", lambda x: x[0, 0] * x[1, 1] / (1.0 + x[0, 1] ** 2)),
], ids=lambda c: c[0])
def test_array_ops(case, rng):
    _, fun = case
    check_taylor(fun, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)) * 0.5)


def test_op_without_rule_says_so(rng):
    with pytest.raises(NotImplementedError, match="prod has no Taylor rule"):
        fd.taylor(fnp.prod, rng.standard_normal(3), numpy.ones(3), 2)


def test_taylor_errors():
    with pytest.raises(ValueError, match="order"):
        fd.taylor(fnp.sin, 0.0, 1.0, -1)
    with pytest.raises(ValueError, match="shape"):
        fd.taylor(fnp.sin, numpy.ones(2), numpy.ones(3), 2)
