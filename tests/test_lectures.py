"""The lectures' worked examples (../shared/LECTURES.md) that need reverse
mode, with their figures.  Figures quoted to 10 significant digits are
checked to 1e-9 relative; closed forms to 1e-12."""
import math

import numpy
import pytest

import fastad as fd
import fastad.numpy as np
import fastad.scipy.special as fsp

FIG = dict(rtol=1e-9, atol=0)
EXACT = dict(rtol=1e-12, atol=1e-14)


def test_example1_evaluation_trace():
    """y = ln(x1) + x1*x2 - sin(x2) at (2, 5)."""
    def f(x1, x2):
        return np.log(x1) + x1 * x2 - np.sin(x2)
    y, (g1, g2) = fd.value_and_grad(f, (0, 1))(2.0, 5.0)
    numpy.testing.assert_allclose(y, 11.652071455, **FIG)
    numpy.testing.assert_allclose(g1, 5.5, **FIG)
    numpy.testing.assert_allclose(g2, 1.716337815, **FIG)
    assert g1 == 5.5  # 1/x1 + x2 is exact in binary


def test_example2_exp_affine():
    """y = exp(w*x + b) at (w, x, b) = (2, 3, -4)."""
    y, (gw, gx, gb) = fd.value_and_grad(lambda w, x, b: np.exp(w * x + b), (0, 1, 2))(2.0, 3.0, -4.0)
    numpy.testing.assert_allclose(y, 7.389056099, **FIG)
    numpy.testing.assert_allclose(gb, 7.389056099, **FIG)
    numpy.testing.assert_allclose(gx, 14.778112198, **FIG)
    numpy.testing.assert_allclose(gw, 22.167168297, **FIG)


def test_example3_shared_subexpression():
    """f(x) = sqrt(x^2 + e^{x^2}) + cos(x^2 + e^{x^2}) at x = 1."""
    def f(x):
        u = x ** 2 + np.exp(x ** 2)
        return np.sqrt(u) + np.cos(u)
    value, g = fd.value_and_grad(f)(1.0)
    numpy.testing.assert_allclose(value, 1.090012212, **FIG)
    numpy.testing.assert_allclose(g, 5.983082596, **FIG)


@pytest.mark.parametrize("w, x", [(0.7, 1.3), (-2.0, 0.4), (3.0, -1.5)])
def test_example4_logistic_loss(w, x):
    """L = -log(sigmoid(w x^2)): dL/dx = -(1 - sigmoid(w x^2)) w 2x."""
    g = fd.grad(lambda x: -np.log(fsp.expit(w * x ** 2)))(x)
    s = 1.0 / (1.0 + math.exp(-w * x * x))
    numpy.testing.assert_allclose(g, -(1 - s) * w * 2 * x, **EXACT)


@pytest.mark.parametrize("x", [0.5, 1.7, -2.3])
def test_example5_value_on_two_paths(x):
    """a = x^2; b = 5a; c = log a; g = b*c; L = -g."""
    def loss(x):
        a = x ** 2
        b = 5 * a
        c = np.log(a)
        return -(b * c)
    numpy.testing.assert_allclose(fd.grad(loss)(x), -10 * x * math.log(x * x) - 10 * x, **EXACT)


def test_example6_norm_cubed(rng):
    x = rng.standard_normal(5)
    g = fd.grad(lambda x: np.sqrt(np.sum(x * x)) ** 3)(x)
    numpy.testing.assert_allclose(g, 3 * numpy.linalg.norm(x) * x, **EXACT)


def test_example7_det_of_product(rng):
    A, X, B = (numpy.eye(3) + 0.3 * rng.standard_normal((3, 3)) for _ in range(3))
    g = fd.grad(lambda X: np.linalg.det(A @ X @ B))(X)
    M = A @ X @ B
    expected = numpy.linalg.det(M) * A.T @ numpy.linalg.inv(M).T @ B.T
    numpy.testing.assert_allclose(g, expected, rtol=1e-10, atol=1e-12)


def test_example8_product_of_quadratic_forms(rng):
    A = rng.standard_normal((4, 4)); A = A + A.T
    B = rng.standard_normal((4, 4)); B = B + B.T
    x = rng.standard_normal(4)
    g = fd.grad(lambda x: (x @ A @ x) * (x @ B @ x))(x)
    expected = 2 * (x @ B @ x) * A @ x + 2 * (x @ A @ x) * B @ x
    numpy.testing.assert_allclose(g, expected, **EXACT)


def test_example9_softplus_of_linear(rng):
    a, x = rng.standard_normal(6), rng.standard_normal(6)
    g = fd.grad(lambda x: np.log(1 + np.exp(np.dot(a, x))))(x)
    s = 1 / (1 + numpy.exp(-a @ x))
    numpy.testing.assert_allclose(g, s * a, **EXACT)


def test_example10_quadratic(rng):
    A, b, x = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)
    g = fd.grad(lambda x: 0.5 * x @ A @ x - b @ x + 3.0)(x)
    numpy.testing.assert_allclose(g, 0.5 * (A + A.T) @ x - b, **EXACT)


def _softmax(h):
    e = numpy.exp(h - h.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_example11_softmax_cross_entropy(rng):
    h, y = rng.standard_normal(5), 2
    g = fd.grad(lambda h: fsp.logsumexp(h) - h[y])(h)
    numpy.testing.assert_allclose(g, _softmax(h) - numpy.eye(5)[y], **EXACT)


def test_example11_two_layer_network(rng):
    X, W1, W2 = rng.standard_normal((8, 4)), rng.standard_normal((4, 6)), rng.standard_normal((6, 3))
    y = rng.integers(0, 3, 8)
    Iy = numpy.eye(3)[y]

    def loss(W1, W2):
        logits = fsp.expit(X @ W1) @ W2
        return np.sum(fsp.logsumexp(logits, axis=1) - np.sum(logits * Iy, axis=1))
    g1, g2 = fd.grad(loss, (0, 1))(W1, W2)
    Z = 1 / (1 + numpy.exp(-X @ W1))
    S = _softmax(Z @ W2)
    numpy.testing.assert_allclose(g2, Z.T @ (S - Iy), **EXACT)
    numpy.testing.assert_allclose(g1, X.T @ ((S - Iy) @ W2.T * Z * (1 - Z)), **EXACT)


def test_example12_linear_regression(rng):
    X, y, w = rng.standard_normal((20, 3)), rng.standard_normal(20), rng.standard_normal(3)
    g = fd.grad(lambda w: np.mean((y - X @ w) ** 2))(w)
    numpy.testing.assert_allclose(g, -2 / 20 * X.T @ (y - X @ w), **EXACT)


def test_example13_lecture_network(rng):
    """affine -> relu -> affine -> logistic, plus weight decay; checked against
    the lecture's unit-by-unit backward."""
    m, lam = 16, 0.01
    X = rng.standard_normal((m, 5))
    T = numpy.eye(3)[rng.integers(0, 3, m)]
    params = {"W1": rng.standard_normal((5, 7)), "b1": rng.standard_normal(7),
              "W2": rng.standard_normal((7, 3)), "b2": rng.standard_normal(3)}

    def loss(p):
        A1 = X @ p["W1"] + p["b1"]
        Z = np.maximum(A1, 0.0)
        A2 = Z @ p["W2"] + p["b2"]
        D = np.mean(fsp.logsumexp(A2, axis=1) - np.sum(A2 * T, axis=1))
        return D + lam / 2 * (np.sum(p["W1"] ** 2) + np.sum(p["W2"] ** 2))
    g = fd.grad(loss)(params)
    assert isinstance(g, dict) and list(g) == list(params)
    # the lecture's backward, unit by unit
    A1 = X @ params["W1"] + params["b1"]
    Z = numpy.maximum(A1, 0)
    A2 = Z @ params["W2"] + params["b2"]
    dA2 = (_softmax(A2) - T) / m
    dW2 = Z.T @ dA2 + lam * params["W2"]
    db2 = dA2.sum(axis=0)
    dA1 = dA2 @ params["W2"].T * (A1 > 0)
    dW1 = X.T @ dA1 + lam * params["W1"]
    db1 = dA1.sum(axis=0)
    for name, expected in [("W1", dW1), ("b1", db1), ("W2", dW2), ("b2", db2)]:
        numpy.testing.assert_allclose(g[name], expected, **EXACT)


def test_example14_stable_binary_cross_entropy():
    """l(x) = ln(1 + e^{-x}), written stably, is finite at x = -1000."""
    def l(x):
        return np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0.0)
    for x, expected in [(-1.0, 1.3133), (-2.0, 2.1269), (-5.0, 5.0067), (-1000.0, 1000.0)]:
        numpy.testing.assert_allclose(l(x), expected, rtol=0, atol=5e-5)
    value, g = fd.value_and_grad(l)(-1000.0)
    assert value == 1000.0 and g == -1.0
    with numpy.errstate(over="ignore"):
        assert numpy.log(1 + numpy.exp(1000.0)) == math.inf  # the naive form overflows


def test_example15_central_difference_step():
    """Relative error of the central difference of x^3 against 3x^2 is
    smallest for a step near 1e-5 (truncation h^2 against rounding eps/h)."""
    steps = 10.0 ** numpy.arange(-1, -13, -0.5)
    x = 1.0
    errors = [abs(fd.numerical_grad(lambda x: x ** 3, x, eps=h) - 3.0) / 3.0 for h in steps]
    best = steps[int(numpy.argmin(errors))]
    assert 1e-6 <= best <= 1e-4
    assert min(errors) < 1e-9
