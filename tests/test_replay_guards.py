"""Recorded tapes guard every decision an op takes on traced values.

Each op below once computed a decision (an order, an index, a sign, a NaN
mask, a count) from the traced value's plain value with NumPy, so the
decision was baked into the tape as a constant and a replay where it came
out differently silently returned the recording's answer, also with
retape=True.  Now each decision is a primitive without a derivative,
which recorded tapes guard.  For each op: recorded at one point, a replay
where the decision holds equals tracing there bit for bit; a replay where
it flips raises RetapeRequired naming the op and the line of the test's
code; with retape=True the tape records again and gives what tracing gives.
"""
import inspect
import re

import numpy
import pytest

import fastad as fd
import fastad.numpy as np


def A(*values):
    return numpy.array(values, dtype=float)


def _assert_bits(got, expected):
    """The same values bit for bit (so -0.0 differs from 0.0 and NaN equals
    itself), the same types, recursively through tuples."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        for g, e in zip(got, expected):
            _assert_bits(g, e)
        return
    assert type(got) is type(expected), (got, expected)
    g, e = numpy.asarray(got), numpy.asarray(expected)
    assert g.dtype == e.dtype and g.shape == e.shape, (got, expected)
    assert g.tobytes() == e.tobytes(), (got, expected)


def _traced(f, args):
    """(value, gradient) by tracing f at args, as fastad.grad does."""
    argnum = tuple(range(len(args))) if len(args) > 1 else 0
    return fd.value_and_grad(f, argnum)(*args)


def _check_guarded(f, recorded, kept, flipped, name):
    """f recorded at `recorded`: at `kept` (the same decision) replay equals
    tracing bit for bit; at `flipped` replay raises RetapeRequired naming
    `name`; with retape=True it equals tracing at `flipped`."""
    tape = fd.record(f, *recorded)
    _assert_bits(tape.value_and_grad(*kept), _traced(f, kept))
    _assert_bits(tape(*kept), _traced(f, kept)[0])
    message = r"'%s' at .*test_replay_guards\.py:\d+ gives a different result" % re.escape(name)
    with pytest.raises(fd.RetapeRequired, match=message):
        tape(*flipped)
    with pytest.raises(fd.RetapeRequired, match=message):
        tape.value_and_grad(*flipped)
    # (the tape still replays where the decision holds)
    _assert_bits(tape.value_and_grad(*kept), _traced(f, kept))
    retaping = fd.record(f, *recorded, retape=True)
    _assert_bits(retaping(*flipped), _traced(f, flipped)[0])
    _assert_bits(retaping.value_and_grad(*flipped), _traced(f, flipped))
    retaping = fd.record(f, *recorded, retape=True)
    _assert_bits(retaping.value_and_grad(*flipped), _traced(f, flipped))


# -- sorting and searching -------------------------------------------------------------

def test_argmax_is_guarded():
    # the example that returned 2.0 (right: 3.0)
    tape = fd.record(lambda x: x[np.argmax(x)], A(1.0, 2.0))
    with pytest.raises(fd.RetapeRequired, match="'argmax'"):
        tape(A(3.0, 2.0))
    assert fd.record(lambda x: x[np.argmax(x)], A(1.0, 2.0), retape=True)(A(3.0, 2.0)) == 3.0
    _check_guarded(lambda x: x[np.argmax(x)] * np.sum(x), (A(1.0, 2.0, 0.5),),
                   (A(0.5, 3.0, 1.0),), (A(3.0, 2.0, 1.0),), "argmax")
    # the method and NumPy's own function (dispatched to fastad's)
    _check_guarded(lambda x: x[x.argmax()] * 2.0, (A(1.0, 2.0),), (A(0.0, 1.0),),
                   (A(3.0, 2.0),), "argmax")
    _check_guarded(lambda x: x[numpy.argmax(x)] * 2.0, (A(1.0, 2.0),), (A(0.0, 1.0),),
                   (A(3.0, 2.0),), "argmax")
    # along an axis
    _check_guarded(lambda x: np.sum(np.take_along_axis(x, np.argmax(x, axis=1)[:, None], 1)),
                   (A(1.0, 2.0, 3.0, 0.0).reshape(2, 2),), (A(0.0, 5.0, 4.0, 1.0).reshape(2, 2),),
                   (A(1.0, 2.0, 0.0, 3.0).reshape(2, 2),), "argmax")


def test_argmax_of_scalar_inputs_is_guarded():
    def larger(x, y):
        pair = np.array([x, y])
        return pair[np.argmax(pair)] * y
    _check_guarded(larger, (1.0, 2.0), (0.5, 3.0), (3.0, 2.0), "argmax")


def test_argmin_is_guarded():
    _check_guarded(lambda x: x[np.argmin(x)] * np.sum(x), (A(1.0, 2.0, 0.5),),
                   (A(3.0, 2.0, 1.0),), (A(0.5, 3.0, 1.0),), "argmin")
    _check_guarded(lambda x: x[x.argmin()] * 2.0, (A(1.0, 2.0),), (A(0.0, 1.0),),
                   (A(3.0, 2.0),), "argmin")

    def smaller(x, y):
        pair = np.array([x, y])
        return pair[np.argmin(pair)] * x
    _check_guarded(smaller, (1.0, 2.0), (0.5, 3.0), (3.0, 2.0), "argmin")


def test_argsort_is_guarded():
    w = A(1.0, 2.0, 3.0)
    _check_guarded(lambda x: np.sum(x[np.argsort(x)] * w), (A(1.0, 2.0, 5.0),),
                   (A(0.0, 1.0, 2.0),), (A(5.0, 1.0, 2.0),), "argsort")
    _check_guarded(lambda x: np.sum(x[x.argsort()] * w), (A(1.0, 2.0, 5.0),),
                   (A(0.0, 1.0, 2.0),), (A(5.0, 1.0, 2.0),), "argsort")


def test_sort_is_guarded():
    # the example that returned 5.0 (right: 1.0)
    f = lambda x: np.sort(x)[0]  # noqa: E731
    tape = fd.record(f, A(1.0, 2.0, 5.0))
    with pytest.raises(fd.RetapeRequired, match="'order of sort'"):
        tape(A(5.0, 1.0, 2.0))
    assert fd.record(f, A(1.0, 2.0, 5.0), retape=True)(A(5.0, 1.0, 2.0)) == 1.0
    w = A(1.0, 2.0, 3.0)
    _check_guarded(lambda x: np.sum(np.sort(x) * w), (A(1.0, 2.0, 5.0),), (A(0.0, 1.0, 2.0),),
                   (A(5.0, 1.0, 2.0),), "order of sort")
    # along the first axis, and flattened (axis=None: the tie kept is in order, stably)
    m = A(1.0, 2.0, 3.0, 4.0, 5.0, 6.0).reshape(3, 2)
    _check_guarded(lambda x: np.sum(np.sort(x, axis=0) * m),
                   (A(1.0, 4.0, 2.0, 5.0, 3.0, 6.0).reshape(3, 2),),
                   (A(1.0, 1.0, 2.0, 2.0, 3.0, 3.0).reshape(3, 2),),
                   (A(1.0, 4.0, 3.0, 5.0, 2.0, 6.0).reshape(3, 2),), "order of sort")
    _check_guarded(lambda x: np.sum(np.sort(x, axis=None) * m.ravel()[:4]),
                   (A(1.0, 2.0, 3.0, 4.0).reshape(2, 2),), (A(1.0, 1.0, 3.0, 4.0).reshape(2, 2),),
                   (A(4.0, 2.0, 3.0, 1.0).reshape(2, 2),), "order of sort")


def test_sort_of_scalar_inputs_is_guarded():
    def weighted(x, y, z):
        return np.sum(np.sort(np.array([x, y, z])) * A(1.0, 2.0, 3.0))
    _check_guarded(weighted, (1.0, 2.0, 5.0), (0.0, 1.0, 2.0), (5.0, 1.0, 2.0), "order of sort")
    # one traced float flattened is an array of one element: nothing to guard
    tape = fd.record(lambda x: np.sum(np.sort(x, axis=None)) * x, 1.0)
    _assert_bits(tape.value_and_grad(-2.0), _traced(lambda x: np.sum(np.sort(x, axis=None)) * x,
                                                   (-2.0,)))


def test_partition_is_guarded():
    w = A(1.0, 2.0, 3.0)
    _check_guarded(lambda x: np.sum(np.partition(x, 1) * w), (A(1.0, 2.0, 5.0),),
                   (A(0.0, 1.0, 2.0),), (A(5.0, 1.0, 2.0),), "order of partition")
    _check_guarded(lambda x: np.partition(x, 0, axis=None)[0] * 2.0, (A(1.0, 2.0, 5.0, 7.0),),
                   (A(0.0, 1.0, 2.0, 3.0),), (A(5.0, 1.0, 2.0, 3.0),), "order of partition")


def test_argpartition_is_guarded():
    _check_guarded(lambda x: x[np.argpartition(x, 0)[0]] * 2.0, (A(1.0, 2.0, 5.0),),
                   (A(0.0, 1.0, 2.0),), (A(5.0, 1.0, 2.0),), "argpartition")


def test_median_is_guarded():
    _check_guarded(lambda x: np.median(x), (A(1.0, 2.0, 5.0),), (A(0.0, 1.0, 2.0),),
                   (A(5.0, 1.0, 2.0),), "order of sort")
    _check_guarded(lambda x: np.sum(np.median(x, axis=1)),
                   (A(1.0, 2.0, 5.0, 3.0, 4.0, 9.0).reshape(2, 3),),
                   (A(0.0, 1.0, 2.0, 3.0, 4.0, 5.0).reshape(2, 3),),
                   (A(1.0, 2.0, 5.0, 9.0, 4.0, 3.0).reshape(2, 3),), "order of sort")


def test_nonzero_any_and_all_are_guarded():
    # (through the not_equal primitive: these were guarded already)
    _check_guarded(lambda x: np.sum(x[x.nonzero()]) * 2.0, (A(1.0, 0.0),), (A(3.0, 0.0),),
                   (A(1.0, 2.0),), "not_equal")
    # (the guard is the mask not_equal gives: any() of another mask with the
    # same answer raises too, conservatively)
    _check_guarded(lambda x: x[0] * float(x.any()), (A(1.0, 0.0),), (A(3.0, 0.0),),
                   (A(0.0, 0.0),), "not_equal")
    _check_guarded(lambda x: x[0] * float(x.all()), (A(1.0, 0.0),), (A(2.0, 0.0),),
                   (A(1.0, 2.0),), "not_equal")


# -- elementwise -----------------------------------------------------------------------

def test_copysign_is_guarded():
    # traced magnitude and sign
    _check_guarded(lambda x: np.sum(np.copysign(x, x - 1.0)), (A(2.0, 3.0),), (A(4.0, 1.5),),
                   (A(0.5, 3.0),), "signbit")
    # a constant magnitude, a traced sign: the result is a constant guarded by the sign
    _check_guarded(lambda x: np.sum(x * np.copysign(1.0, x - 1.0)), (A(2.0, 3.0),),
                   (A(4.0, 1.5),), (A(0.5, 3.0),), "signbit")
    # a traced magnitude, a constant sign: nothing to guard
    f = lambda x: np.sum(np.copysign(x, -1.0))  # noqa: E731
    tape = fd.record(f, A(2.0, -3.0))
    _assert_bits(tape.value_and_grad(A(5.0, -4.0)), _traced(f, (A(5.0, -4.0),)))


def test_copysign_of_scalar_inputs_is_guarded():
    _check_guarded(lambda x: np.copysign(x, x - 1.0), (2.0,), (4.0,), (0.5,), "signbit")
    _check_guarded(lambda x, y: np.copysign(x, y) * y, (2.0, 1.0), (3.0, 5.0), (2.0, -1.0),
                   "signbit")
    # the sign bit, not the sign: -0.0 flips it
    _check_guarded(lambda x, y: np.copysign(x, y) * x, (2.0, 0.0), (3.0, 1.0), (2.0, -0.0),
                   "signbit")


def test_angle_is_recomputed_at_replay():
    # (angle is a primitive with rules since complex numbers: replay recomputes its 0
    # or pi from the sign, so the tape applies on both sides of 0 without a guard)
    for f, recorded, flipped in [
            (lambda x: np.sum(x * np.angle(x)), (A(2.0, 3.0),), (A(-1.0, 3.0),)),
            (lambda x: np.sum(x * np.angle(x, deg=True)), (A(2.0, 3.0),), (A(-1.0, 3.0),)),
            (lambda x: x * np.angle(x), (2.0,), (-1.0,))]:
        tape = fd.record(f, *recorded)
        _assert_bits(tape.value_and_grad(*flipped), _traced(f, flipped))


# -- linear algebra --------------------------------------------------------------------

def test_slogdet_sign_is_guarded():
    def signed_log(a):
        sign, logabs = np.linalg.slogdet(a)
        return sign * logabs
    _check_guarded(signed_log, (numpy.diag(A(2.0, 2.0)),), (A(3.0, 1.0, 1.0, 2.0).reshape(2, 2),),
                   (numpy.diag(A(2.0, -2.0)),), "sign of slogdet")
    # batched
    batch = numpy.stack([numpy.diag(A(2.0, 3.0)), numpy.diag(A(1.0, 4.0))])
    flipped = numpy.stack([numpy.diag(A(2.0, 3.0)), numpy.diag(A(-1.0, 4.0))])
    _check_guarded(lambda a: np.sum(signed_log(a)), (batch,), (batch * 2.0,), (flipped,),
                   "sign of slogdet")


def test_zero_norm_is_guarded():
    # the count of nonzeros: 2 recorded, 1 after the flip
    _check_guarded(lambda x: np.linalg.norm(x, 0) * np.sum(x), (A(1.0, 2.0),), (A(-1.0, 5.0),),
                   (A(0.0, 2.0),), "count_nonzero")
    _check_guarded(lambda x: np.sum(np.linalg.norm(x, 0, axis=1) * np.sum(x, axis=1)),
                   (A(1.0, 2.0, 0.0, 3.0).reshape(2, 2),), (A(4.0, 2.0, 0.0, 1.0).reshape(2, 2),),
                   (A(1.0, 0.0, 0.0, 3.0).reshape(2, 2),), "count_nonzero")


# -- NaN-ignoring reductions -----------------------------------------------------------

NAN = numpy.nan


@pytest.mark.parametrize("name", ["nansum", "nanprod", "nanmean", "nanmax", "nanmin",
                                  "nanvar", "nanstd"])
def test_nan_functions_are_guarded(name):
    reduce = getattr(np, name)
    # (the kept points keep where nanmax and nanmin find their elements, too)
    _check_guarded(lambda x: reduce(x) * 2.0, (A(1.0, 2.0, 4.0),), (A(0.5, 3.0, 5.0),),
                   (A(NAN, 2.0, 4.0),), "isnan")
    # recorded with a NaN: the replay where it moves, or goes
    _check_guarded(lambda x: reduce(x) * 2.0, (A(1.0, NAN, 4.0),), (A(0.5, NAN, 5.0),),
                   (A(NAN, 2.0, 4.0),), "isnan")
    _check_guarded(lambda x: np.sum(reduce(x, axis=0)), (A(1.0, NAN, 4.0, 2.0).reshape(2, 2),),
                   (A(0.0, NAN, 5.0, 2.0).reshape(2, 2),), (A(1.0, 5.0, 4.0, 2.0).reshape(2, 2),),
                   "isnan")


def test_nan_functions_of_a_scalar_input_are_guarded():
    _check_guarded(lambda x: np.nansum(x) * 2.0 + 1.0, (1.0,), (3.0,), (NAN,), "isnan")


# -- statistics and ranges -------------------------------------------------------------

def test_std_at_zero_variance_is_guarded():
    # recorded away from equal values, replayed at them (the derivative is 0 there, not NaN)
    _check_guarded(lambda x: np.std(x), (A(1.0, 2.0),), (A(1.0, 4.0),), (A(2.0, 2.0),),
                   "zero variance")
    # and the other way
    _check_guarded(lambda x: np.std(x), (A(2.0, 2.0),), (A(5.0, 5.0),), (A(1.0, 2.0),),
                   "zero variance")
    _check_guarded(lambda x: np.sum(np.std(x, axis=1)), (A(1.0, 2.0, 3.0, 5.0).reshape(2, 2),),
                   (A(0.0, 2.0, 1.0, 5.0).reshape(2, 2),), (A(1.0, 2.0, 3.0, 3.0).reshape(2, 2),),
                   "zero variance")
    _check_guarded(lambda x: np.nanstd(x), (A(1.0, 2.0, NAN),), (A(1.0, 4.0, NAN),),
                   (A(2.0, 2.0, NAN),), "zero variance")


def test_linspace_zero_step_is_guarded():
    _check_guarded(lambda x: np.sum(np.linspace(0.0, x, 3) * A(1.0, 2.0, 3.0)), (1.0,), (2.0,),
                   (0.0,), "equal")
    _check_guarded(lambda x: np.sum(np.linspace(0.0, x, 3)), (A(1.0, 2.0),), (A(3.0, 1.0),),
                   (A(0.0, 2.0),), "equal")


# -- custom rules ----------------------------------------------------------------------

@fd.custom_vjp
def _clipped_gradient(x):
    return x


_clipped_gradient.defvjp(lambda x: (x * 1.0, x * 2.0),
                         lambda res, g: (np.clip(g, -1.0, 1.0) * res,))


def test_a_custom_vjp_replays_at_the_new_inputs():
    # its value was the recording's output, a constant: 6.0 at every replay
    f = lambda x: 3.0 * _clipped_gradient(x)  # noqa: E731
    tape = fd.record(f, 2.0)
    assert tape(5.0) == 15.0
    _assert_bits(tape.value_and_grad(5.0), _traced(f, (5.0,)))
    # (bwd reads the residual 2x at the new input)
    _assert_bits(tape.value_and_grad(5.0), (15.0, 10.0))
    g = lambda x: np.sum(3.0 * _clipped_gradient(x) ** 2)  # noqa: E731
    tape = fd.record(g, A(2.0, 0.1))
    _assert_bits(tape.value_and_grad(A(5.0, 0.2)), _traced(g, (A(5.0, 0.2),)))


# -- through the operators that record by default ---------------------------------------

def test_grad_sum_sorts_each_shard():
    pytest.importorskip("cloudpickle")  # (grad_sum ships the lambda as Dask would)
    import fastad.distributed
    shards = [A(1.0, 2.0), A(5.0, 3.0)]
    fun = lambda w, s: np.sum(w * np.sort(s))  # noqa: E731
    # was [6, 5]: the second shard replayed the first one's order
    numpy.testing.assert_array_equal(fastad.distributed.grad_sum(fun, numpy.zeros(2), shards),
                                     A(4.0, 7.0))
    value, grad = fastad.distributed.value_and_grad_sum(fun, numpy.ones(2), shards)
    assert value == 11.0
    numpy.testing.assert_array_equal(grad, A(4.0, 7.0))


# -- the source line a message names ----------------------------------------------------

def _line_of(fun, text):
    lines, start = inspect.getsourcelines(fun)
    return start + next(i for i, line in enumerate(lines) if text in line)


def _compares(x):
    y = x * 2.0
    if y > 1.0:
        return y
    return -y


def _sorts(x):
    y = x * 2.0
    return np.sort(y)[0]


def _produces_nan(x):
    y = x + 1.0
    return np.log(y)


def test_a_guard_names_the_line_of_the_users_code():
    tape = fd.record(_compares, 1.0)
    line = _line_of(_compares, "if y > 1.0")
    with pytest.raises(fd.RetapeRequired) as raised:
        tape(0.0)
    assert "comparison 'gt' recorded at %s:%d " % (__file__, line) in str(raised.value)
    # an operation reached through fastad's own Python code (fastad.numpy.sort)
    tape = fd.record(_sorts, A(1.0, 2.0))
    line = _line_of(_sorts, "np.sort(y)")
    with pytest.raises(fd.RetapeRequired) as raised:
        tape(A(2.0, 1.0))
    assert "'order of sort' at %s:%d " % (__file__, line) in str(raised.value)


def test_debug_nans_names_the_line_of_the_users_code():
    line = _line_of(_produces_nan, "np.log(y)")
    with fd.debug_nans(), numpy.errstate(invalid="ignore"):
        with pytest.raises(FloatingPointError) as raised:
            fd.grad(_produces_nan)(-2.0)
        with pytest.raises(FloatingPointError) as raised_array:
            fd.grad(lambda x: np.sum(_produces_nan(x)))(A(1.0, -2.0))
    assert "(recorded at %s:%d)" % (__file__, line) in str(raised.value)
    assert "(recorded at %s:%d)" % (__file__, line) in str(raised_array.value)


def test_the_hessian_of_an_unpickled_tape_without_its_function_says_what_works():
    import pickle
    tape = pickle.loads(pickle.dumps(fd.record(lambda x: np.sum(x ** 3), A(1.0, 2.0))))
    with pytest.raises(fd.RetapeRequired, match="function importable by name") as raised:
        tape.hvp(A(1.0, 2.0), A(1.0, 0.0))
    assert "before pickling" not in str(raised.value)
    assert "fastad.record" in str(raised.value)
    # what it says works: a module-level function's tape records its gradient after loading
    tape = pickle.loads(pickle.dumps(fd.record(_sum_of_cubes, A(1.0, 2.0))))
    numpy.testing.assert_array_equal(tape.hvp(A(1.0, 2.0), A(1.0, 0.0)), A(6.0, 0.0))


def _sum_of_cubes(x):
    return np.sum(x ** 3)
