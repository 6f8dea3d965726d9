"""Element access x[i] of a traced float64 array: a scalar node read from
the array in C (so Python loops over an array's elements record, replay and
sweep without an array operation per element), in every mode."""
import pickle

import numpy
import pytest

import fastad as fd
import fastad.numpy as np


def rosen_loop(x):
    total = 0.0
    for i in range(len(x) - 1):
        total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


def rosen_der(x):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    return scipy_optimize.rosen_der(x)


def grid_loop(A):
    # 2-d integer tuples, negative indices, an intermediate array as source
    B = np.tanh(A) * 2.0
    total = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            total = total + B[i, j] * A[-1 - i, j] + np.sin(A[i, -1])
    return total


@pytest.fixture
def x(rng):
    return rng.uniform(-1.0, 1.0, 7)


def test_element_is_a_traced_scalar(x):
    seen = []

    def f(v):
        seen.append(type(v[2]))
        return v[2] * v[-1]
    assert fd.grad(f)(x)[2] == x[-1]
    assert seen == [fd._tape.Scalar]


def test_gradient_of_loop_against_hand_written(x):
    numpy.testing.assert_allclose(fd.grad(rosen_loop)(x), rosen_der(x), rtol=1e-13)


def test_checks_in_both_modes_to_order_two(rng):
    fd.check_grads(rosen_loop, rng.uniform(-1, 1, 4), modes=("fwd", "rev"), order=2)
    fd.check_grads(grid_loop, rng.uniform(-1, 1, (3, 2)), modes=("fwd", "rev"), order=2)


def test_hessian_hvp_and_jacobian_of_a_loop(x):
    scipy_optimize = pytest.importorskip("scipy.optimize")
    v = numpy.linspace(-1.0, 1.0, x.size)
    numpy.testing.assert_allclose(fd.hessian(rosen_loop)(x), scipy_optimize.rosen_hess(x),
                                  rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(fd.hvp(rosen_loop, x, v), scipy_optimize.rosen_hess_prod(x, v),
                                  rtol=1e-12, atol=1e-12)

    def residuals(x):
        return np.stack([x[i] * x[i + 1] for i in range(len(x) - 1)])
    J = fd.jacobian(residuals)(x)
    expected = numpy.zeros((x.size - 1, x.size))
    for i in range(x.size - 1):
        expected[i, i], expected[i, i + 1] = x[i + 1], x[i]
    numpy.testing.assert_array_equal(J, expected)
    numpy.testing.assert_array_equal(fd.jacrev(residuals)(x), expected)


def test_taylor_through_elements(x):
    v = numpy.ones_like(x)
    coefficients = fd.taylor(lambda x: x[0] ** 3 + x[1] * x[2], x, v, 3)
    a, b, c = x[0], x[1], x[2]
    numpy.testing.assert_allclose(coefficients, [a ** 3 + b * c, 3 * a * a + b + c, 3 * a + 1, 1],
                                  rtol=1e-13)


def test_replay_is_bit_identical_and_pickles(rng):
    for fun, shape in ((rosen_loop, (6,)), (grid_loop, (3, 4))):
        points = [rng.uniform(-1, 1, shape) for _ in range(3)]
        tape = fd.record(fun, points[0])
        clone = pickle.loads(pickle.dumps(tape))
        for point in points:
            value, grad = tape.value_and_grad(point)
            ref_value, ref_grad = fd.value_and_grad(fun)(point)
            assert value == ref_value
            numpy.testing.assert_array_equal(grad, ref_grad)
            numpy.testing.assert_array_equal(clone.gradient(point), ref_grad)
            numpy.testing.assert_array_equal(tape.jvp(point, point)[1],
                                             fd.jvp(fun, (point,), (point,))[1])
        numpy.testing.assert_allclose(tape.hvp(points[1], points[2]),
                                      fd.hvp(fun, points[1], points[2]), rtol=1e-12)


def test_replay_of_a_non_contiguous_input(rng):
    tape = fd.record(rosen_loop, rng.uniform(-1, 1, 6))
    wide = rng.uniform(-1, 1, 12)
    point = wide[::2]  # a strided view: replay reads a contiguous copy
    numpy.testing.assert_array_equal(tape.gradient(point), fd.grad(rosen_loop)(point.copy()))


def test_branch_on_elements_is_guarded():
    def f(x):
        return x[0] * 2.0 if x[0] > 0 else x[1]
    tape = fd.record(f, numpy.array([1.0, 2.0]))
    assert tape(numpy.array([3.0, 2.0])) == 6.0
    with pytest.raises(fd.RetapeRequired, match="test_elements.py"):
        tape(numpy.array([-3.0, 2.0]))


def test_trace_table_and_graph_name_the_element():
    tape = fd.record(lambda x: x[1] * x[0], numpy.array([2.0, 3.0]))
    assert "getitem" in tape.trace_table(numpy.array([2.0, 3.0]))
    assert "getitem" in tape.to_dot()


def test_index_errors_and_other_indices_keep_numpy_semantics(x):
    with pytest.raises(IndexError, match="index 7 is out of bounds for axis 0 with size 7"):
        fd.grad(lambda v: v[7])(x)
    with pytest.raises(IndexError, match="out of bounds"):
        fd.grad(lambda v: v[-8])(x)
    # a float32 element stays float32 (a 0-d array), a 2-d row stays an array
    g = fd.grad(lambda v: np.sum(v[1] * v))(x.astype(numpy.float32))
    assert g.dtype == numpy.float32
    A = numpy.arange(6.0).reshape(2, 3)
    numpy.testing.assert_array_equal(fd.grad(lambda a: np.sum(a[1]) + a[0, 0])(A),
                                     [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    numpy.testing.assert_array_equal(fd.grad(lambda a: a[0, -2])(A), [[0.0, 1.0, 0.0], [0.0] * 3])


def test_nested_elements_through_grad_of_grad():
    # d/dx of (d/dx x0^3 x1) = 6 x0 x1 in x0, 3 x0^2 in x1
    f = lambda v: v[0] ** 3 * v[1]  # noqa: E731
    g = lambda v: fd.grad(f)(v)[0]  # noqa: E731
    numpy.testing.assert_allclose(fd.grad(g)(numpy.array([2.0, 5.0])), [60.0, 12.0])


def test_elements_of_an_escaped_array_raise():
    kept = []

    def f(v):
        kept.append(v)
        return v[0]
    fd.grad(f)(numpy.array([1.0, 2.0]))
    with pytest.raises(fd.TracerError):
        kept[0][1]
