"""The lecture units: values, fused rules, stability at |x| = 1000."""
import numpy
import pytest

import fastad as fd
import fastad.numpy as fnp
from fastad import nn
import fastad.scipy.special as fsp


def softmax(a):
    e = numpy.exp(a - a.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_logistic_unit_value_and_fused_backward(rng):
    A = rng.standard_normal((6, 4))
    T = numpy.eye(4)[rng.integers(0, 4, 6)]
    value, gA = fd.value_and_grad(nn.logistic)(A, T)
    numpy.testing.assert_allclose(value, numpy.mean(-numpy.sum(T * numpy.log(softmax(A)), axis=1)),
                                  rtol=1e-13)
    numpy.testing.assert_allclose(gA, (softmax(A) - T) / 6, rtol=1e-13)
    fd.check_grads(nn.logistic, A, T)


@pytest.mark.parametrize("name", ["softplus", "logistic", "logsumexp", "log_softmax"])
def test_stable_at_magnitude_1000(name):
    x = numpy.array([[1000.0, -1000.0, 3.0]])
    fun = {"softplus": lambda x: fnp.sum(nn.softplus(x)),
           "logistic": lambda x: nn.logistic(x, numpy.array([[0.0, 1.0, 0.0]])),
           "logsumexp": lambda x: fsp.logsumexp(x),
           "log_softmax": lambda x: fnp.sum(fsp.log_softmax(x, axis=1))}[name]
    value, g = fd.value_and_grad(fun)(x)
    assert numpy.isfinite(value) and numpy.all(numpy.isfinite(g))
    numpy.testing.assert_allclose(g, fd.numerical_grad(fun, x, eps=1e-4), rtol=1e-6, atol=1e-9)


def test_softplus_values():
    numpy.testing.assert_allclose(nn.softplus(numpy.array([-1000.0, 0.0, 1000.0])),
                                  [0.0, numpy.log(2.0), 1000.0])
    assert fd.grad(nn.softplus)(0.0) == 0.5
    fd.check_grads(nn.softplus, numpy.array([-2.0, 0.3, 4.0]))


@pytest.mark.parametrize("unit", [nn.relu, nn.leaky_relu, nn.elu, nn.sigmoid, nn.tanh])
def test_activations(unit, rng):
    x = rng.standard_normal((2, 3))
    fd.check_grads(unit, x)


def test_elu_large_input_has_finite_gradient():
    g = fd.grad(lambda x: fnp.sum(nn.elu(x)))(numpy.array([1000.0, -1000.0]))
    numpy.testing.assert_allclose(g, [1.0, 0.0])


def test_mlp_and_decay(rng):
    params = nn.init_mlp([5, 7, 3], rng)
    X, T = rng.standard_normal((4, 5)), numpy.eye(3)[[0, 2, 1, 1]]

    def loss(p):
        return nn.logistic(nn.mlp(p, X), T) + nn.decay([layer["W"] for layer in p], 0.1)
    g = fd.grad(loss)(params)
    assert [sorted(layer) for layer in g] == [["W", "b"], ["W", "b"]]
    fd.check_grads(lambda W: loss([{"W": W, "b": params[0]["b"]}, params[1]]), params[0]["W"],
                   modes=("rev",), order=1)


def test_elu_derivative_at_zero_is_alpha():
    # (was 0.5: minimum(x, 0) split the derivative at the tie x = 0; JAX gives alpha)
    assert fd.grad(nn.elu)(0.0) == 1.0
    assert fd.grad(lambda x: nn.elu(x, 0.5))(0.0) == 0.5
    numpy.testing.assert_array_equal(
        fd.elementwise_grad(nn.elu)(numpy.array([-1000.0, 0.0, 3.0])), [0.0, 1.0, 1.0])


def test_softmax_units_reduce_over_the_last_axis_by_default():
    # (they reduced over all elements, SciPy's default; jax.nn and torch take the last axis)
    x = numpy.array([[0.0, numpy.log(3.0)], [1.0, 1.0]])
    numpy.testing.assert_allclose(nn.softmax(x), [[0.25, 0.75], [0.5, 0.5]])
    numpy.testing.assert_allclose(nn.log_softmax(x), numpy.log([[0.25, 0.75], [0.5, 0.5]]))
    numpy.testing.assert_allclose(fsp.softmax(x).sum(), 1.0)  # SciPy's face keeps axis=None
    g = fd.grad(lambda x: nn.log_softmax(x)[0, 0])(x)
    numpy.testing.assert_allclose(g, [[0.75, -0.75], [0.0, 0.0]])
