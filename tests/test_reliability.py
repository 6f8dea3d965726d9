"""Misuse ends in a clear error; nothing leaks; threads stay apart."""
import gc
import pickle
import threading
import time
import tracemalloc

import numpy
import pytest

import fastad as fd
import fastad.numpy as np
from fastad import core


def test_debug_nans_names_the_operation():
    with fd.debug_nans():
        with pytest.raises(FloatingPointError, match=r"'sqrt' produced NaN from -1.0 .*test_reliability.py"):
            fd.grad(np.sqrt)(-1.0)
        with pytest.raises(FloatingPointError, match="'log' produced NaN from an array of shape"):
            with numpy.errstate(invalid="ignore"):
                fd.grad(lambda x: np.sum(np.log(x)))(numpy.array([1.0, -1.0]))
        # x - c is recorded as x + (-c): the operation is named 'add'
        with pytest.raises(FloatingPointError, match="'add' produced NaN from inf, -inf"):
            fd.grad(lambda x: (x * numpy.inf) - numpy.inf)(1.0)
        # NaN already in the inputs is not the op's doing
        assert numpy.isnan(fd.grad(lambda x: x * 2.0)(float("nan")) * 0 + numpy.nan)
    # off again outside the block: NaN propagates per IEEE
    assert numpy.isnan(fd.grad(np.sqrt)(-1.0))


def test_tape_too_large_is_a_memory_error():
    previous = fd._tape.set_max_nodes(1000)
    try:
        def long(x):
            for _ in range(2000):
                x = x * 1.0001
            return x
        with pytest.raises(MemoryError, match="tape could not grow"):
            fd.grad(long)(1.0)
        assert fd.grad(lambda x: x * x)(3.0) == 6.0
    finally:
        fd._tape.set_max_nodes(previous)


def test_keyboard_interrupt_inside_the_function_leaves_nothing_active():
    def interrupted(x):
        x * 2.0
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        fd.grad(interrupted)(1.0)
    assert core._active_tapes() == []
    with pytest.raises(KeyboardInterrupt):
        fd.grad(lambda x: fd.grad(interrupted)(x))(1.0)
    assert core._active_tapes() == []
    assert fd.grad(lambda x: x ** 3)(2.0) == 12.0


def test_cotangent_dtype_is_checked(rng):
    _, vjp_fun = fd.vjp(np.sin, rng.standard_normal(3))
    with pytest.raises(TypeError, match="cotangent 0 has dtype complex128"):
        vjp_fun(numpy.ones(3, complex))
    with pytest.raises(TypeError, match="cotangent 0 has dtype bool"):
        vjp_fun(numpy.ones(3, bool))


def test_subgradient_conventions():
    assert fd.grad(abs)(0.0) == 0.0
    assert fd.grad(np.sign)(0.0) == 0.0
    assert fd.grad(lambda x: np.maximum(x, 0.0))(0.0) == 0.5
    assert fd.grad(lambda x: np.clip(x, 0.0, 1.0))(1.0) == 0.5
    assert fd.grad(lambda x: x ** 0.0)(0.0) == 0.0
    assert fd.grad(lambda y: 0.0 ** y)(2.0) == 0.0


def test_mutating_the_example_after_recording_does_not_change_replays(rng):
    x = rng.standard_normal(3)
    tape = fd.record(lambda x: np.sum(x ** 2), x)
    point = x.copy()
    x[:] = 100.0  # the tape replays at the arguments it is given
    numpy.testing.assert_allclose(tape.gradient(point), 2 * point)


def test_no_reference_cycles_and_flat_memory():
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(200):
            fd.grad(lambda x: np.sum(np.tanh(x) ** 2))(numpy.ones(4))
            fd.grad(lambda x: x * np.sin(x))(0.3)
            fd.record(lambda x: x * np.sin(x), 0.3).gradient(0.4)
        assert gc.collect() == 0
        assert gc.garbage == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    f = fd.grad(lambda x: np.sum(np.exp(x) * x))
    for _ in range(3000):  # NumPy fills caches of its own during the first calls
        f(numpy.ones(8))
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(2000):
        f(numpy.ones(8))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert growth < 64 * 1024, "traced allocations grew by %d bytes" % growth


def test_pickled_tape_of_another_version_is_refused():
    tape = fd.record(lambda x: x * 2.0, 1.0)
    data = pickle.dumps(tape)
    tampered = data.replace(b"format", b"formaX")
    with pytest.raises(ValueError, match="format"):
        pickle.loads(tampered)


def test_eight_threads_differentiating_different_functions(rng):
    funcs = [
        (lambda x: np.sum(np.sin(x) * x), lambda x: numpy.cos(x) * x + numpy.sin(x)),
        (lambda x: np.sum(np.exp(x)), numpy.exp),
        (lambda x: np.sum(x ** 3), lambda x: 3 * x ** 2),
        (lambda x: np.sum(np.tanh(x)), lambda x: 1 - numpy.tanh(x) ** 2),
    ]
    errors, stop = [], time.perf_counter() + 2.0

    def worker(i):
        f, df = funcs[i % len(funcs)]
        x = numpy.linspace(0.1, 1.0, 5 + i)
        tape = fd.record(f, x)
        while time.perf_counter() < stop:
            for g in (fd.grad(f)(x), tape.gradient(x)):
                if not numpy.allclose(g, df(x), rtol=1e-12):
                    errors.append((i, g))
                    return
            s = 0.1 * (i + 1)
            if fd.grad(lambda t: t * t * float(i + 1))(s) != pytest.approx(2 * s * (i + 1)):
                errors.append(i)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_non_float_output_and_object_input_are_refused():
    with pytest.raises(TypeError, match="requires a function returning a float scalar, but it returned a value of type str"):
        fd.grad(lambda x: "text")(1.0)
    with pytest.raises(TypeError, match="argument 0 holds an array of dtype object"):
        fd.grad(lambda x: x)(numpy.array([1, "a"], dtype=object))
