"""Regression tests for silent wrong answers of the compiled core: results the
tape cannot carry, and zero tangents or adjoints meeting infinite partials."""
import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp


# -- results the tape cannot carry are errors, not dropped derivatives ---------------

def test_complex_intermediate_keeps_the_derivative():
    # (was a TypeError before complex numbers; before that, silently 0)
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(fd.grad(lambda x: fnp.real(fnp.sum(x * (1 + 1j))))(x),
                                  [1.0, 1.0])
    np.testing.assert_array_equal(fd.grad(lambda x: fnp.imag(fnp.sum(x * (1 + 2j))))(x),
                                  [2.0, 2.0])


def test_object_dtype_constant_is_a_type_error():
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="dtype object"):
        fd.grad(lambda x: fnp.sum(x * np.array([1, 2], dtype=object)))(x)


def test_object_dtype_constant_in_a_recorded_tape_is_a_type_error():
    with pytest.raises(TypeError, match="dtype object"):
        fd.record(lambda x: fnp.sum(fnp.add(x, np.array([1, 2], dtype=object))), np.ones(2))


@pytest.mark.parametrize("c", [2 ** 64, 2 ** 70, -2 ** 70])
def test_integer_constants_beyond_uint64_keep_the_derivative(c):
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(fd.grad(lambda x: fnp.sum(x * c))(x), np.full(2, float(c)))
    np.testing.assert_array_equal(fd.grad(lambda x: fnp.sum(fnp.add(c, x)))(x), np.ones(2))
    assert fd.grad(lambda x: x * c)(1.5) == float(c)
    assert fd.grad(lambda x: c - x)(1.5) == -1.0


def test_integer_results_stay_plain_values():
    # (no derivative to drop: an integer output is piecewise constant)
    x = np.array([1.5, 2.5])
    np.testing.assert_array_equal(fd.grad(lambda x: fnp.sum(x.astype(int) * x))(x), [1.0, 2.0])


# -- a zero tangent or adjoint contributes nothing, even through an infinite partial --

def test_jvp_through_a_constant_with_an_infinite_partial():
    # d/dy arctan2(1, y) at y = inf is 0; the constant's partial there is
    # inf / inf = nan, and the constant's tangent is 0
    value, tangent = fd.jvp(lambda y: fnp.arctan2(1.0, y), (np.inf,), (1.0,))
    assert value == 0.0 and tangent == 0.0
    assert fd.grad(lambda y: fnp.arctan2(1.0, y))(np.inf) == 0.0
    # hypot(c, y) with the constant c = inf: its partial c / hypot is nan
    value, tangent = fd.jvp(lambda y: fnp.hypot(np.inf, y), (2.0,), (1.0,))
    assert value == np.inf and tangent == 0.0
    assert fd.grad(lambda y: fnp.hypot(np.inf, y))(2.0) == 0.0


def _dead_sqrt(x):
    unused = fnp.sqrt(x)  # noqa: F841  (recorded, never read: its partial at 0 is inf)
    return x * 2.0


def test_unused_intermediate_with_an_infinite_partial():
    assert fd.grad(_dead_sqrt)(0.0) == 2.0
    assert fd.grad(lambda x: _dead_sqrt(x) + 0.0 * fnp.sqrt(x))(0.0) == 2.0
    assert fd.jvp(_dead_sqrt, (0.0,), (1.0,)) == (0.0, 2.0)
    tape = fd.record(_dead_sqrt, 1.0)
    assert tape.gradient(0.0) == 2.0


def test_unused_intermediate_in_many_directions():
    def f(x):
        unused = fnp.sqrt(x[0])  # noqa: F841
        return fnp.stack([x[0] * 2.0, x[1] * 3.0])
    x = np.array([0.0, 1.0])
    expected = np.array([[2.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(fd.jacrev(f)(x), expected)
    np.testing.assert_array_equal(fd.jacfwd(f)(x), expected)


def test_an_infinite_partial_on_the_path_still_counts():
    # (only zero factors are skipped: a sqrt that is read keeps its inf)
    assert fd.grad(fnp.sqrt)(0.0) == np.inf
    assert np.isnan(fd.grad(lambda x: fnp.sqrt(x) - fnp.sqrt(x))(0.0))  # inf - inf, as JAX


def test_sum_of_an_escaped_fused_array_is_a_tracer_error():
    kept = {}
    previous = fd._tape.set_fusion_threshold(1)  # (fuse at every size)
    try:
        def f(x):
            kept["pending"] = x * 2.0 + 1.0  # a pending (fused) array, escaping
            return fnp.sum(x * x)
        fd.grad(f)(np.ones(4))
        for reduce in (fnp.sum, fnp.mean, lambda a: a.sum(), lambda a: a.mean()):
            with pytest.raises(fd.TracerError, match="escaped"):
                reduce(kept["pending"])
        np.testing.assert_array_equal(kept["pending"].value, np.full(4, 3.0))
    finally:
        fd._tape.set_fusion_threshold(previous)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_an_unused_array_intermediate_at_a_pole_on_a_0d_input():
    def f(x):
        fnp.log(x)  # (recorded, never read)
        return 2.0 * x
    assert fd.grad(f)(np.array(0.0)) == 2.0
    np.testing.assert_array_equal(fd.grad(lambda x: fnp.sum(f(x)))(np.zeros(2)), [2.0, 2.0])


def test_a_masked_constant_in_a_traced_operation_is_a_type_error():
    m = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TypeError, match="MaskedArray"):
        fd.value_and_grad(lambda x: fnp.sum(x * m))(np.ones(3))


def test_a_masked_argument_of_a_recorded_tape_is_refused():
    tape = fd.record(lambda x: fnp.sum(x * x), np.ones(3))
    m = np.ma.masked_array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TypeError, match="MaskedArray"):
        tape.gradient(m)


def test_the_many_cotangent_sweep_skips_rules_without_a_cotangent():
    @fd.custom_vjp
    def scaled(x, s):
        return x * s

    scaled.defvjp(lambda x, s: (x * s, s), lambda s, g: (g * s, None))
    x = np.array([1.0, 2.0, 3.0])
    jac = fd.jacrev(lambda x: scaled(x, 2.0))(x)
    np.testing.assert_array_equal(jac, 2.0 * np.eye(3))


@pytest.mark.parametrize("method", ["box", "box_with", "is_scalar", "ext", "node", "raw"])
@pytest.mark.parametrize("index", [-3, 10 ** 9])
def test_node_indices_of_the_tape_api_are_checked(method, index):
    tape = fd.record(lambda x: fnp.sum(fnp.sin(x)), np.ones(3))._tape
    args = (index, np.ones(3)) if method == "box_with" else (index,)
    with pytest.raises(IndexError, match="out of range"):
        getattr(tape, method)(*args)
    with pytest.raises(IndexError, match="out of range"):
        tape.constant(index)
