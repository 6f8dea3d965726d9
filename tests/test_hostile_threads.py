"""Shared objects used from several threads at once, and sweeps re-entered from
their own rules: correct results or a clear error, never a crash.

Each threaded test runs 4 threads for FASTAD_THREAD_SECONDS (1 s by default;
10 in the long run) and compares every result with one computed beforehand
in a single thread."""
import os
import threading
import time

import numpy as np
import pytest

import fastad as fd
import fastad.numpy as fnp

SECONDS = float(os.environ.get("FASTAD_THREAD_SECONDS", "1"))
THREADS = 4


def _mixed(x):
    """Array operations (adjoints kept in the side table), element reads and
    scalar operations (the C sweep, without the GIL)."""
    y = fnp.tanh(x) * x + fnp.sin(x) ** 2
    acc = 0.0
    for k in range(x.shape[0]):
        acc = acc + fnp.exp(-y[k] * 0.5) * (k + 1)
    return acc + fnp.sum(y * y)


def _hammer(work, n_cases):
    """Run work(case) from THREADS threads for SECONDS; returns
    (calls made, list of failures)."""
    failures, calls = [], [0]
    stop = time.perf_counter() + SECONDS

    def loop(seed):
        rng = np.random.default_rng(seed)
        while time.perf_counter() < stop:
            case = int(rng.integers(n_cases))
            try:
                problem = work(case)
            except Exception as error:  # (reported, not raised in a thread)
                problem = repr(error)
            calls[0] += 1
            if problem:
                failures.append(problem)

    threads = [threading.Thread(target=loop, args=(seed,)) for seed in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls[0], failures


def _points(n, size=6):
    rng = np.random.default_rng(7)
    return [rng.standard_normal(size) for _ in range(n)]


def test_one_vjp_function_from_four_threads():
    x = _points(1)[0]
    out, vjp_fun = fd.vjp(lambda x: fnp.tanh(x) * x + fnp.sin(x) ** 2, x)
    cotangents = _points(8)
    expected = [vjp_fun(c)[0] for c in cotangents]

    def work(case):
        got = vjp_fun(cotangents[case])[0]
        if not np.array_equal(got, expected[case]):
            return "cotangent %d: %s != %s" % (case, got, expected[case])

    calls, failures = _hammer(work, len(cotangents))
    assert calls > THREADS and failures == []


def test_one_recorded_tape_from_four_threads():
    points = _points(8)
    tape = fd.record(_mixed, points[0])
    expected = [fd.grad(_mixed)(p) for p in points]
    values = [_mixed(p) for p in points]

    def work(case):
        value, gradient = tape.value_and_grad(points[case])
        if not (np.array_equal(gradient, expected[case]) and np.isclose(value, values[case])):
            return "point %d: gradient %s != %s" % (case, gradient, expected[case])
        if not np.array_equal(tape.hvp(points[case], points[0]),
                              tape.hvp(points[case], points[0])):
            return "point %d: hvp differs between calls" % case

    calls, failures = _hammer(work, len(points))
    assert calls > THREADS and failures == []


def _branchy(x):
    if x[0] > 0:
        return fnp.sum(fnp.sin(x) * x)
    return fnp.sum(fnp.cos(x) * 2.0) + x[1]


def test_a_retape_tape_from_four_threads():
    points = _points(8)
    points = [p * (1 if k % 2 else -1) for k, p in enumerate(points)]  # both branches
    tape = fd.record(_branchy, points[0], retape=True)
    expected = [fd.grad(_branchy)(p) for p in points]

    def work(case):
        got = tape.gradient(points[case])
        if not np.array_equal(got, expected[case]):
            return "point %d: %s != %s" % (case, got, expected[case])

    calls, failures = _hammer(work, len(points))
    assert calls > THREADS and failures == []


def test_a_rule_that_sweeps_its_own_tape_is_an_error():
    held = {}

    @fd.custom_vjp
    def double(x):
        return x * 2.0

    def double_fwd(x):
        return x * 2.0, None

    def double_bwd(residuals, g):
        held["vjp"](1.0)  # the vjp function whose sweep is running
        return (2.0 * g,)

    double.defvjp(double_fwd, double_bwd)
    out, vjp_fun = fd.vjp(lambda x: double(x) * 3.0, 1.5)
    held["vjp"] = vjp_fun
    with pytest.raises(RuntimeError, match="sweeps of one tape cannot nest"):
        vjp_fun(1.0)
    # the tape stays usable once the rule behaves
    held["vjp"] = lambda c: None
    assert vjp_fun(1.0) == (6.0,)


def test_a_rule_that_replays_its_own_recorded_tape_is_an_error():
    held = {}

    @fd.custom_vjp
    def double(x):
        return x * 2.0

    def double_bwd(residuals, g):
        held["tape"].gradient(np.ones(3))
        return (2.0 * g,)

    double.defvjp(lambda x: (x * 2.0, None), double_bwd)
    tape = fd.record(lambda x: fnp.sum(double(x)), np.ones(3))
    held["tape"] = tape
    with pytest.raises(RuntimeError, match="sweeps of one tape cannot nest"):
        tape.gradient(np.ones(3))


# -- recorded tapes' second-order methods ---------------------------------------------

def test_recorded_hvp_at_a_new_shape_is_refused_and_the_original_shape_still_works():
    tape = fd.record(lambda x: fnp.sum(fnp.sin(x) * x), np.ones(3))
    with pytest.raises(ValueError, match="recorded with shape"):
        tape.hvp(np.ones(4), np.ones(4))
    with pytest.raises(ValueError, match="recorded with shape"):
        tape.hessian(np.ones(4))
    x, v = np.array([0.1, 0.2, 0.3]), np.array([1.0, -1.0, 2.0])
    h = lambda x: np.diag(2 * np.cos(x) - x * np.sin(x))  # noqa: E731
    np.testing.assert_allclose(tape.hvp(x, v), h(x) @ v, rtol=1e-12)
    np.testing.assert_allclose(tape.hessian(x), h(x), rtol=1e-12)


def test_hessian_of_an_unpickled_tape_without_its_function_says_why():
    import pickle
    tape = fd.record(lambda x: fnp.sum(x ** 3), np.ones(2))  # (a lambda does not pickle)
    loaded = pickle.loads(pickle.dumps(tape))
    np.testing.assert_allclose(loaded.gradient(np.array([1.0, 2.0])), [3.0, 12.0])
    with pytest.raises(fd.RetapeRequired, match="unpickled without its function"):
        loaded.hessian(np.ones(2))
    with pytest.raises(fd.RetapeRequired, match="unpickled without its function"):
        loaded.hvp(np.ones(2), np.ones(2))


def test_gradients_of_scalar_lists_from_four_threads():
    """The compiled call path keeps one finished tape for reuse: threads
    taking and returning it, nesting, and keeping traced values (which
    must keep raising) all get their own answers."""
    def f(x):
        return fnp.sin(x[0]) * x[1] + x[0] ** 2.0 / (1.0 + x[1] * x[1])

    def nested(p):
        return fd.grad(lambda q: f([q[0] * p[0], q[1]]))([p[1], 0.5])[0]

    points = [[float(a), float(b)] for a, b in _points(6, 2)]
    operators = [fd.grad(f), fd.jacfwd(f), fd.grad(nested), fd.jacfwd(fd.grad(f))]
    expected = [[op(x) for x in points] for op in operators]
    kept = []

    def work(case):
        op, i = case % len(operators), case // len(operators)
        x = points[i]
        got = operators[op](x)
        if case % 7 == 0:  # a traced value escapes: its tape must not be reused
            fd.grad(lambda q: kept.append(q[0]) or f(q))(x)
            try:
                kept[-1] * 2.0
                return "a kept traced value recorded after its call returned"
            except fd.TracerError:
                pass
        if not np.array_equal(np.asarray(got, float), np.asarray(expected[op][i], float)):
            return "operator %d at %s: %s != %s" % (op, x, got, expected[op][i])

    calls, failures = _hammer(work, len(operators) * len(points))
    assert calls > THREADS and failures == []
