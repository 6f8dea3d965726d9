"""fastad.scipy.signal.convolve: the direct method's values (SciPy's, bit
for bit), both arguments differentiable to second order in both modes,
every mode and dimension, and autograd's axes and dot_axes keywords; and
numpy.convolve's values and derivatives."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp
import fastad.scipy.signal as fss

signal = pytest.importorskip("scipy.signal")
rng = np.random.default_rng(11)


def R(*shape):
    return rng.standard_normal(shape)


def traced_value(fun, *args):
    return fd.make_vjp(fun, tuple(range(len(args))))(*args)[1]


SHAPES = [((4,), (2,)), ((5,), (3,)), ((4,), (6,)), ((4, 3), (2, 2)), ((5, 4), (3, 2)),
          ((6, 7), (4, 1)), ((3, 4), (2, 5)), ((2, 3, 4), (2, 2, 3))]


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_convolve_values_and_derivatives(shapes, mode):
    """scipy.signal.convolve had no fastad counterpart (autograd's
    test_convolve, test_convolve_2d)."""
    a, b = R(*shapes[0]), R(*shapes[1])
    fun = lambda a, b: fss.convolve(a, b, mode)  # noqa: E731
    try:
        expected = signal.convolve(a, b, mode, method="direct")
    except ValueError as error:  # ('valid' needs one array at least as large in every axis)
        with pytest.raises(ValueError, match=str(error)[:20]):
            traced_value(fun, a, b)
        return
    np.testing.assert_array_equal(traced_value(fun, a, b), expected)
    fd.check_grads(fun, a, b, modes=("fwd", "rev"), order=2)


@pytest.mark.parametrize("mode", ["full", "valid", "same"])
def test_one_dimensional_values_are_numpys_convolution(mode):
    a, b = R(7), R(3)
    np.testing.assert_array_equal(traced_value(lambda a, b: fss.convolve(a, b, mode), a, b),
                                  np.convolve(a, b, mode))
    for a, v in [(R(5), R(3)), (R(3), R(6)), (R(4), R(4))]:
        np.testing.assert_array_equal(traced_value(lambda a, v: np.convolve(a, v, mode), a, v),
                                      np.convolve(a, v, mode))
        fd.check_grads(lambda a, v: fnp.convolve(a, v, mode), modes=("fwd", "rev"), order=2)(a, v)


def test_autograds_axes_and_dot_axes():
    """autograd's convolve(A, B, axes=(A's, B's), dot_axes=(A's, B's)): the
    axis pairs convolved, the pairs summed over, the rest outer products."""
    a35, a34, a342 = R(3, 5), R(3, 4), R(3, 4, 2)
    for mode in ["valid", "full"]:
        np.testing.assert_allclose(fss.convolve(a35, a34, axes=([1], [0]), mode=mode)[1, 2],
                                   signal.convolve(a35[1, :], a34[:, 2], mode), rtol=1e-13)
        np.testing.assert_allclose(
            fss.convolve(a35, a34, axes=([], []), dot_axes=([0], [0]), mode=mode),
            np.tensordot(a35, a34, axes=([0], [0])), rtol=1e-13)
        np.testing.assert_allclose(
            fss.convolve(a35, a342, axes=([1], [2]), dot_axes=([0], [0]), mode=mode)[2],
            sum(signal.convolve(a35[i, :], a342[i, 2, :], mode) for i in range(3)), rtol=1e-13)
    for axes, dot_axes in [(([0], [1]), ((), ())), (([1], [1]), ([0], [2])),
                           (([0, 1], [1, 0]), ((), ()))]:
        a, b = R(3, 3, 2), R(3, 2, 3)
        for mode in ["full", "valid", "same"]:
            fun = lambda a, b: fss.convolve(a, b, axes=axes, dot_axes=dot_axes, mode=mode)  # noqa: E731
            try:
                fun(a, b)
            except ValueError:
                continue
            fd.check_grads(fun, a, b, modes=("fwd", "rev"), order=2)


def test_plain_input_is_scipys_and_errors_are_scipys():
    a, b = R(4, 3), R(2, 2)
    np.testing.assert_array_equal(fss.convolve(a, b, "same"), signal.convolve(a, b, "same"))
    with pytest.raises(ValueError, match="same dimensionality"):
        fd.grad(lambda a: fnp.sum(fss.convolve(a, R(3))))(a)
    with pytest.raises(TypeError, match="by keyword"):
        fss.convolve(a, b, ([0], [0]))
    assert fd.grad(lambda x: fss.convolve(x, 3.0))(2.0) == 3.0
