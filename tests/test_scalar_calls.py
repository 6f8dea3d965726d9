"""grad and jacfwd of a function of one flat list or tuple of scalars take
the compiled call path (_tape.ScalarCall): the same results, type for type
and bit for bit, and the same tape, node for node, as the general path of
fastad/core.py, at top level and nested to depth 3; what it does not take
the general path finishes from its recording."""
import struct
import weakref

import numpy
import pytest

import fastad as fd
import fastad.numpy as np

from test_nested_sweeps import _nodes


@pytest.fixture
def general(monkeypatch):
    """Call `fn()` with the compiled call path turned off."""
    def call(fn):
        with monkeypatch.context() as m:
            m.setattr(fd._tape, "scalar_operator", lambda *args: None)
            return fn()
    return call


def assert_same(a, b):
    """Equal type for type (containers, traced Scalars, floats, 0-d
    arrays) and bit for bit."""
    assert type(a) is type(b), (a, b)
    if type(a) in (list, tuple):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same(u, v)
    elif type(a) is fd._tape.Scalar:
        assert (a.node, struct.pack("d", a.value)) == (b.node, struct.pack("d", b.value))
    elif type(a) is numpy.ndarray:
        assert (a.dtype, a.shape, a.tobytes()) == (b.dtype, b.shape, b.tobytes())
    else:
        assert struct.pack("d", a) == struct.pack("d", b), (a, b)


def _loop(x):
    """Python tests on traced values, as a solver's loop has them."""
    u, v = x[0], x[1]
    while u < 3.0:
        u = u * 1.5 + v * v
    return np.sqrt(u * u + v) - (v if v > 0 else -v)


FUNCTIONS = {
    "arithmetic": lambda x: x[0] * x[1] + np.sin(x[0]) / (1.0 + x[1] ** 2) - 3.0 * x[1],
    "loop": _loop,
    "kinks": lambda x: np.maximum(x[0], x[1]) * abs(x[0] - 2.0) + np.hypot(x[0], x[1])
    + np.arctan2(x[1], x[0]),
    "one input unused": lambda x: np.exp(x[0]) * 2.0,
    "an input returned": lambda x: x[1],
    "constant": lambda x: 2.0,
    "arrays inside": lambda x: np.sum(np.array([x[0], x[1]]) ** 2) * x[0],
    "traced exponent": lambda x: x[0] ** x[1],
    "0-d array out": lambda x: np.sum(np.stack([x[0], x[1] * x[0]])),
}
POINTS = {
    "floats": [0.7, 1.3],
    "tuple": (0.7, 1.3),
    "float64s": [numpy.float64(0.7), 1.3],
}
ONE = {"float": 0.7, "float64": numpy.float64(0.7)}


@pytest.mark.parametrize("point", list(ONE))
@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("operator", [fd.grad, fd.jacfwd])
def test_one_scalar_argument_is_the_general_path(operator, name, point, general):
    """A float (or numpy.float64) argument alone, at top level and nested
    at a traced scalar and at a float."""
    fun = lambda u: FUNCTIONS[name]([u, 1.3 * u + 0.2])  # noqa: E731
    x = ONE[point]
    assert_same(operator(fun)(x), general(lambda: operator(fun)(x)))
    for inner_at in (lambda p: p, lambda p: 0.9):
        outer = lambda p: operator(lambda u: fun(u) * p)(inner_at(p)) * p  # noqa: E731
        assert_same(fd.grad(outer)(x), general(lambda: fd.grad(outer)(x)))
        assert_same(fd.jacfwd(outer)(x), general(lambda: fd.jacfwd(outer)(x)))


@pytest.mark.parametrize("point", list(POINTS))
@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("operator", [fd.grad, fd.jacfwd])
def test_top_level_calls_are_the_general_path(operator, name, point, general):
    fun, x = FUNCTIONS[name], POINTS[point]
    assert_same(operator(fun)(x), general(lambda: operator(fun)(x)))


def _lift(inner_op, fun, start):
    """An outer function of p that runs inner_op(fun) at `start` (None:
    at p itself), fun reading p too, as a nested solver does."""
    def outer(p):
        g = inner_op(lambda q: fun([q[0] * p[0], q[1] + p[1]]))(p if start is None else start)
        return g[0] * g[1] + 2.0 * g[0] + p[0]
    return outer


OPERATORS = {"r": fd.grad, "f": fd.jacfwd}


@pytest.mark.parametrize("start", [None, [0.4, 0.9]], ids=["at p", "at floats"])
@pytest.mark.parametrize("name", list(FUNCTIONS))
@pytest.mark.parametrize("modes", ["rr", "rf", "fr", "ff", "rrr", "frf", "fff"])
def test_nested_calls_are_the_general_path_node_for_node(modes, name, start, general):
    fun = FUNCTIONS[name]
    for mode in reversed(modes[1:]):
        fun = _lift(OPERATORS[mode], fun, start)
    operator = OPERATORS[modes[0]](fun)
    x = [0.7, 1.3]
    assert_same(operator(x), general(lambda: operator(x)))
    tape = fd.record(operator, x)
    assert _nodes(tape) == _nodes(general(lambda: fd.record(operator, x)))
    for point in (x, [0.8, 1.1]):  # (a replay's numbers are floats, a jacfwd's 0-d arrays)
        numpy.testing.assert_array_equal(tape(point), general(lambda: operator(point)))


def test_other_arguments_and_keywords_pass_through(general):
    fun = lambda x, a, scale=1.0: scale * a * x[0] * np.cos(x[1])  # noqa: E731
    for operator in (fd.grad, fd.jacfwd):
        got = operator(fun)([0.5, 0.25], 3.0, scale=2.0)
        assert_same(got, general(lambda: operator(fun)([0.5, 0.25], 3.0, scale=2.0)))
    third = lambda a, b, x: a * x[0] - b * x[1] * x[0]  # noqa: E731
    assert_same(fd.grad(third, argnum=2)(1.5, 2.0, (0.5, 0.25)),
                general(lambda: fd.grad(third, argnum=2)(1.5, 2.0, (0.5, 0.25))))


def test_a_pytree_output_of_jacfwd_takes_the_general_path_from_the_recording(general):
    calls = []

    def fun(x):
        calls.append(1)
        return (x[0] * x[1], [np.sin(x[0])])
    got = fd.jacfwd(fun)([0.5, 2.0])
    assert len(calls) == 1  # recorded once, not run again by the general path
    assert_same(got, general(lambda: fd.jacfwd(fun)([0.5, 2.0])))


def test_errors_are_the_general_paths(general):
    kept = []
    fd.grad(lambda x: kept.append(x[0]) or x[0] * 2.0)([1.0])
    with pytest.raises(fd.TracerError, match="already returned"):
        fd.grad(lambda x: x[0] * x[1])([kept[0], 1.0])
    with pytest.raises(TypeError, match="Pass floats"):
        fd.grad(lambda x: x[0] * x[1])([1, 2.0])
    for operator in (fd.grad, fd.jacfwd):
        with pytest.raises(TypeError, match="returned a value of type str"):
            operator(lambda x: "a")([1.0])

    def mixes(p):
        return fd.grad(lambda q: q[0] * q[1])([p[0], kept[0]])[0]
    with pytest.raises(fd.TracerError, match="another differentiation call"):
        fd.grad(mixes)([1.0])


def test_jacfwd_of_a_function_returning_no_number_is_a_type_error():
    """(It returned zeros of the output's shape: a string has shape ().)"""
    for out in ("a", None, True, object()):
        for x in ([1.0], 1.0, numpy.ones(2)):
            with pytest.raises(TypeError, match="jacfwd requires a function returning numbers"):
                fd.jacfwd(lambda x: out)(x)
    assert_same(fd.jacfwd(lambda x: 3)([1.0]), [0.0])


@pytest.mark.parametrize("operator", [fd.jacfwd, fd.jacrev, fd.jacobian])
def test_a_scalar_jacobian_at_a_scalar_leaf_is_a_number_of_its_type(operator):
    """As grad's result, and as the same call nested in another operator or
    replayed gives it (it was a 0-d array at top level only)."""
    f = lambda x: x[0] * numpy.float64(2.0) * x[1] + np.sin(x[2])  # noqa: E731
    x = (0.5, numpy.float64(1.5), numpy.array(0.25))
    got = operator(f)(x)
    assert_same(got, (3.0, numpy.float64(1.0), numpy.array(numpy.cos(0.25))))
    assert_same(operator(lambda u: u * u)(3.0), 6.0)
    assert_same(operator(lambda u: 2.0)(3.0), 0.0)  # no input reaches the output
    assert_same(fd.hessian(lambda u: u ** 3)(2.0), 12.0)
    assert type(operator(lambda u: u * u)(numpy.array([3.0]))) is numpy.ndarray


def test_an_exception_in_fun_leaves_no_tape_active():
    def fails(x):
        raise KeyError("inside")
    for operator in (fd.grad, fd.jacfwd):
        with pytest.raises(KeyError):
            operator(fails)([1.0, 2.0])
        with pytest.raises(KeyError):
            fd.grad(lambda p: operator(fails)([p[0], 1.0])[0])([1.0])
        assert fd.core._active_tapes() == []
    assert fd.grad(lambda x: x[0] * x[1])([2.0, 3.0]) == [3.0, 2.0]


def _descent(grad, f, x):
    """A few steps of gradient descent with an acceptance test."""
    g = grad(f)
    fx = f(x)
    for _ in range(6):
        step = [a - 0.1 * b for a, b in zip(x, g(x))]
        if f(step) < fx:
            x, fx = step, f(step)
    return x


@pytest.mark.parametrize("modes", ["rr", "rf", "fr", "ff"])
def test_a_nested_solver_is_the_general_path_bit_for_bit(modes, general):
    """W15's shape: an objective that runs a descent on its own gradient,
    minimised on its gradient."""
    outer_op, inner_op = OPERATORS[modes[0]], OPERATORS[modes[1]]

    def objective(p):
        def inner(q):
            return (q[0] - p[0]) ** 2 + (q[1] * p[1] - 1.0) ** 2 + 0.1 * q[0] * q[1]
        y = _descent(inner_op, inner, [1.0, 1.0])
        return inner(y) + p[0] * p[0]

    def solve():
        return _descent(outer_op, objective, [0.5, 2.0])
    assert_same(solve(), general(solve))


def test_the_compiled_path_takes_scalars_and_flat_sequences_of_them_only():
    record = fd._tape.ScalarCall.record
    f = lambda x: x[0] * x[1]  # noqa: E731
    call = record(f, ([2.0, 3.0],), 0, {}, [], None, False)
    assert (call.nested, call.gradient(), call.tape.active) == (False, [3.0, 2.0], False)
    assert record(lambda u: u * u, (3.0,), 0, {}, [], None, False).gradient() == 6.0
    for x in ([], [1], [1.0, 2], [numpy.float32(1.0)], numpy.ones(2), [[1.0]], {"a": 1.0}, 1,
              numpy.float32(1.0), numpy.array(1.0), 1j, True):
        assert record(f, (x,), 0, {}, [], None, False) is None


def test_a_finished_top_level_tape_is_kept_only_when_no_traced_value_escaped():
    """The compiled path reuses its last top-level tape: a traced value kept
    from a call must still raise, however many calls follow."""
    f = lambda x: x[0] * x[1]  # noqa: E731
    assert fd.grad(f)([2.0, 3.0]) == [3.0, 2.0]
    spare = fd._tape.spare_tape()
    assert spare is not None and len(spare) == 0 and not spare.active
    del spare
    kept = []
    assert fd.grad(lambda x: kept.append(x[0]) or f(x))([4.0, 5.0]) == [5.0, 4.0]
    for _ in range(3):
        assert fd.grad(f)([2.0, 3.0]) == [3.0, 2.0]
        assert fd.jacfwd(f)([2.0, 3.0]) == [3.0, 2.0]
        with pytest.raises(fd.TracerError, match="after the fastad operator"):
            kept[0] * 3.0
    assert kept[0].value == 4.0 and kept[0].tape is not fd._tape.spare_tape()
    # nor one something refers to weakly
    refs = []
    fd.grad(lambda x: refs.append(weakref.ref(x[0].tape)) or f(x))([2.0, 3.0])
    assert refs[0]() is None  # (freed, not kept)
    # a tape with array nodes is not kept (its side table is not emptied)
    fd.grad(lambda x: np.sum(np.array([x[0], x[1]])))([1.0, 2.0])
    assert fd._tape.spare_tape() is None


@pytest.mark.parametrize("operator", [fd.grad, fd.jacfwd])
def test_a_nested_derivative_independent_of_the_enclosing_values_is_a_float(operator, general):
    """As JAX leaves values that do not depend on its tracers concrete: the
    inner derivative at floats of a function whose derivative there does not
    involve the outer values is a plain number, so that what follows is not
    recorded; one that involves them stays traced."""
    seen = []

    def outer(p):
        independent = operator(lambda q: p[0] * p[1] - q[0] * q[0] + 3.0 * q[1])([1.5, 2.0])
        dependent = operator(lambda q: p[0] * q[0] * q[1])([1.5, 2.0])
        seen.append((independent, dependent))
        return independent[0] * p[0] + dependent[0] * dependent[1]

    for path in (lambda fn: fn(), general):
        seen.clear()
        assert path(lambda: fd.grad(outer)([0.5, 4.0])) == [-3.0 + 6.0 * 0.5, 0.0]
        (independent, dependent), = seen
        assert_same(independent, [-3.0, 3.0])
        assert all(type(d) is fd._tape.Scalar for d in dependent)
    tape = fd.record(fd.grad(outer), [0.5, 4.0])
    numpy.testing.assert_array_equal(tape([1.0, -2.0]), fd.grad(outer)([1.0, -2.0]))


def test_the_kept_tape_obeys_a_node_limit_set_after_it():
    f = lambda x: x[0] * x[1] + x[0]  # noqa: E731
    assert fd.grad(f)([2.0, 3.0]) == [4.0, 2.0]
    previous = fd._tape.set_max_nodes(3)
    try:
        with pytest.raises(MemoryError, match="could not grow"):
            fd.grad(f)([2.0, 3.0])
    finally:
        fd._tape.set_max_nodes(previous)
    assert fd.grad(f)([2.0, 3.0]) == [4.0, 2.0]


_UNARY = [np.sin, np.exp, np.tanh, np.sqrt, abs, np.log1p, lambda u: -u, lambda u: u ** 2.0,
          lambda u: 1.5 / u, lambda u: u - 0.25]
_BINARY = [lambda u, v: u + v, lambda u, v: u - v, lambda u, v: u * v, lambda u, v: u / v,
           np.maximum, np.minimum, np.hypot, np.arctan2]


def _random_function(rng, n_inputs, n_ops):
    """A random scalar function of a list (its values kept positive enough
    for sqrt, log1p and division), reading an enclosing value `outer`."""
    plan = [(int(rng.integers(2)), int(rng.integers(len(_UNARY))), int(rng.integers(len(_BINARY))),
             [int(i) for i in rng.integers(0, 1_000, 2)]) for _ in range(n_ops)]

    def fun(x, outer):
        values = list(x) + [outer]
        for binary, u, b, (i, j) in plan:
            a, c = values[i % len(values)], values[j % len(values)]
            values.append(_BINARY[b](a, c) if binary else _UNARY[u](abs(a) + 0.5))
            values[-1] = abs(values[-1]) + 0.1
        return values[-1] + values[n_inputs]
    return fun


@pytest.mark.parametrize("seed", range(60))
def test_random_programs_in_every_mode_are_the_general_path(seed, general):
    rng = numpy.random.default_rng(seed)
    fun = _random_function(rng, 2, int(rng.integers(1, 12)))
    inner_op, outer_op = OPERATORS["rf"[seed % 2]], OPERATORS["rf"[seed // 2 % 2]]
    at_floats = seed % 3 == 0

    def outer(p):
        g = inner_op(lambda q: fun(q, p[0]))([0.3, 0.7] if at_floats else [p[0], p[1]])
        return g[0] * p[1] + g[1]
    x = [float(v) for v in rng.uniform(0.2, 2.0, 2)]
    alone = inner_op(lambda q: fun(q, 0.5))
    assert_same(alone(x), general(lambda: alone(x)))
    assert_same(outer_op(outer)(x), general(lambda: outer_op(outer)(x)))


@pytest.fixture
def recorded(monkeypatch):
    """Call `fn()` by the general path with its nested sweeps recorded: no
    compiled call path and no dry sweeps (SweepHandles' dry runs)."""
    def call(fn):
        with monkeypatch.context() as m:
            m.setattr(fd._tape, "scalar_operator", lambda *args: None)
            m.setattr(fd._tape, "dry_reverse", lambda *args: None)
            m.setattr(fd._tape, "dry_tangent", lambda *args: None)
            return fn()
    return call


def assert_same_values(a, b):
    """assert_same, but traced Scalars compared by value (a dry sweep
    leaves fewer nodes on the tape)."""
    if type(a) is fd._tape.Scalar:
        assert type(b) is fd._tape.Scalar
        assert struct.pack("d", a.value) == struct.pack("d", b.value)
    elif type(a) in (list, tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            assert_same_values(u, v)
    else:
        assert_same(a, b)


@pytest.mark.parametrize("seed", range(60))
def test_dry_sweeps_give_what_the_recorded_sweeps_give(seed, recorded):
    """A nested derivative that depends on no enclosing value is taken from
    a sweep that records nothing (csrc/fastad_record.c's dry runs): the same
    numbers, type for type and bit for bit, as the recorded sweep gives
    through plain_constants; the derivatives that do depend stay traced,
    and so does everything the outer operator then computes."""
    rng = numpy.random.default_rng(1000 + seed)
    fun = _random_function(rng, 2, int(rng.integers(1, 12)))
    modes = ["rr", "rf", "fr", "ff", "rrr", "frf", "fff", "rfr"][seed % 8]
    seen = {}

    def lift(inner_op, f, depth):
        def outer(p):
            g = inner_op(lambda q: f(q, p[0]))([0.3, 0.7] if seed % 3 else p)
            seen.setdefault(depth, []).append(g)
            return g[0] * p[1] + g[1] + fun(p, 0.25)
        return lambda q, _: outer(q)

    f = fun
    for depth, mode in enumerate(reversed(modes[1:])):
        f = lift(OPERATORS[mode], f, depth)
    operator = OPERATORS[modes[0]](lambda p: f(p, 0.0))
    x = [float(v) for v in rng.uniform(0.2, 2.0, 2)]
    result = operator(x)
    dry_seen, seen = seen, {}
    assert_same(result, recorded(lambda: operator(x)))
    assert dry_seen.keys() == seen.keys()
    for depth in seen:
        for a, b in zip(dry_seen[depth], seen[depth]):
            assert_same_values(a, b)
    tape = fd.record(operator, x, retape=True)
    y = [float(v) for v in rng.uniform(0.2, 2.0, 2)]
    numpy.testing.assert_array_equal(tape(y), recorded(lambda: operator(y)))


@pytest.mark.parametrize("operator", [fd.grad, fd.jacfwd])
def test_a_dry_sweep_records_nothing(operator, recorded):
    """An inner derivative independent of the enclosing values leaves only
    its function's nodes on the outer tape; one that depends on them (or
    meets maximum's guard) records its sweep, as without dry sweeps."""
    def counts():
        found = []

        def outer(p):
            tape = p[0].tape
            for inner in (lambda q: p[0] * p[1] - q[0] * q[0] + 3.0 * q[1],
                          lambda q: p[0] * q[0] * q[1],
                          lambda q: np.maximum(q[0] * p[0], q[1])):
                before = len(tape)
                operator(inner)([1.5, 2.0])
                found.append(len(tape) - before)
            return p[0] * p[1]

        fd.grad(outer)([0.5, 4.0])
        return found

    dry, swept = counts(), recorded(counts)
    assert dry[0] == 2 + 5  # (two input boxes, the function's five operations)
    assert dry[0] < swept[0] and dry[1:] == swept[1:]


def test_maximum_inside_a_nested_derivative_keeps_its_guard():
    """Maximum's rule compares traced values: the dry sweep gives way to the
    recorded one, whose comparison nodes a replay checks."""
    def outer(p):
        g = fd.grad(lambda q: np.maximum(q[0] * p[0], q[1]))([1.0, 2.0])
        return g[0] * p[1] + g[1]

    tape = fd.record(fd.grad(outer), [1.0, 3.0])
    numpy.testing.assert_array_equal(tape([1.5, 3.0]), fd.grad(outer)([1.5, 3.0]))
    with pytest.raises(fd.RetapeRequired):
        tape([3.0, 3.0])  # (q[0] p[0] = 3 > 2: the other branch)
