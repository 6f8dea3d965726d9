"""Adversarial properties: random programs shared by threads, and random
pytrees, against single-threaded results and the structure-preserving rule
grad(sum of squares)(tree) = 2 * tree.

`python -m pytest tests/test_adversarial.py --hypothesis-profile=long` runs
10,000 examples of each; CI runs the bounded default profile.  (Random
corruptions of pickled tapes are fuzzed in test_hostile_pickles.py.)"""
import collections
import threading
import warnings

import numpy
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, strategies as st  # noqa: E402

import fastad as fd  # noqa: E402
import fastad.numpy as np  # noqa: E402
from fastad.tree import flatten  # noqa: E402

THREADS = 4

UNARY = [np.sin, np.tanh, np.arctan, lambda x: np.exp(np.tanh(x)), lambda x: np.log1p(x * x),
         lambda x: np.sqrt(1.0 + x * x), np.negative, abs]
BINARY = [np.add, np.subtract, np.multiply, lambda a, b: a / (1.5 + np.tanh(b)),
          np.maximum, np.hypot]


@st.composite
def programs(draw):
    """(program, size): a list of steps over a vector input, each a unary
    function of an earlier value, a binary one of two, an element read, or
    a reduction, ending in a scalar."""
    size = draw(st.integers(1, 5))
    steps = []
    n_values = 1
    for _ in range(draw(st.integers(1, 10))):
        kind = draw(st.sampled_from(["unary", "binary", "element"]))
        a, b = draw(st.integers(0, n_values - 1)), draw(st.integers(0, n_values - 1))
        steps.append((kind, draw(st.integers(0, 5)), a, b, draw(st.integers(0, size - 1))))
        n_values += 1
    return steps, size


def _run(steps, x):
    values = [x]
    for kind, op, a, b, index in steps:
        if kind == "unary":
            values.append(UNARY[op % len(UNARY)](values[a]))
        elif kind == "binary":
            values.append(BINARY[op % len(BINARY)](values[a], values[b]))
        else:  # an element of an earlier array value (a scalar value reads as itself)
            v = values[a]
            values.append(v[index % v.shape[0]] if numpy.ndim(v) else v)
    return sum(np.sum(v) if numpy.ndim(v) else v for v in values[1:])


def _in_threads(calls):
    """Run each thunk in `calls` from THREADS threads at once (every thread
    runs them all, in a different order); returns each thread's results."""
    results = [None] * THREADS
    barrier = threading.Barrier(THREADS)

    def work(t):
        barrier.wait()
        order = list(range(len(calls)))[t:] + list(range(len(calls)))[:t]
        out = {}
        for i in order:
            try:
                out[i] = calls[i]()
            except Exception as error:
                out[i] = error
        results[t] = out

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def _same(a, b):
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b)
    return all(numpy.array_equal(x, y, equal_nan=True)
               for x, y in zip(numpy.atleast_1d(a), numpy.atleast_1d(b)))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (hypot(0, 0) and the like)
@given(programs(), st.lists(st.floats(-2, 2), min_size=5, max_size=5), st.integers(0, 2 ** 31))
def test_a_recorded_tape_shared_by_threads_gives_each_its_own_answer(program, start, seed):
    steps, size = program
    rng = numpy.random.default_rng(seed)
    points = [rng.uniform(-2, 2, size) for _ in range(6)]
    fun = lambda x: _run(steps, x)  # noqa: E731
    tape = fd.record(fun, numpy.asarray(start[:size]), retape=True)
    expected = [fd.value_and_grad(fun)(p) for p in points]
    calls = [lambda p=p: tape.value_and_grad(p) for p in points]
    for out in _in_threads(calls):
        for i, (value, gradient) in enumerate(expected):
            got = out[i]
            assert not isinstance(got, Exception), got
            assert numpy.isclose(got[0], value, rtol=1e-12, equal_nan=True)
            assert _same(got[1], gradient)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (hypot(0, 0) and the like)
@given(programs(), st.integers(0, 2 ** 31))
def test_a_vjp_function_shared_by_threads_gives_each_its_own_answer(program, seed):
    steps, size = program
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-2, 2, size)
    out, vjp_fun = fd.vjp(lambda x: _run(steps, x), x)
    cotangents = [float(c) for c in rng.uniform(-3, 3, 6)]
    expected = [vjp_fun(c) for c in cotangents]
    for got in _in_threads([lambda c=c: vjp_fun(c) for c in cotangents]):
        for i, e in enumerate(expected):
            assert _same(got[i][0], e[0])


# -- hostile pytrees -------------------------------------------------------------------

Point = collections.namedtuple("Point", ["x", "y"])

leaves = st.one_of(
    st.floats(-3, 3),
    st.builds(lambda shape, seed: numpy.random.default_rng(seed).uniform(-3, 3, shape),
              st.sampled_from([(), (0,), (1,), (3,), (2, 0), (2, 3)]), st.integers(0, 99)),
)


def _trees(children):
    return st.one_of(
        st.lists(children, max_size=3),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from("abcde"), children, max_size=3),
        st.builds(Point, children, children),
        st.dictionaries(st.sampled_from("xyz"), children, max_size=2).map(
            lambda d: collections.defaultdict(list, d)),
        st.just(None),
    )


trees = st.recursive(leaves, _trees, max_leaves=8)


def _sum_of_squares(tree):
    leaves_, _ = flatten(tree)
    return sum((np.sum(leaf * leaf) for leaf in leaves_), 0.0)


def _doubled(tree):
    return fd.tree_map(lambda leaf: numpy.asarray(2.0 * leaf) if isinstance(leaf, numpy.ndarray)
                       else 2.0 * leaf, tree)


def _assert_same_tree(got, expected):
    got_leaves, got_def = flatten(got)
    expected_leaves, expected_def = flatten(expected)
    assert got_def == expected_def, (got_def, expected_def)
    assert type(got) is type(expected)
    for g, e in zip(got_leaves, expected_leaves):
        assert numpy.shape(g) == numpy.shape(e)
        numpy.testing.assert_allclose(g, e, rtol=1e-13)


@given(trees)
def test_the_gradient_has_the_structure_of_the_argument(tree):
    _assert_same_tree(fd.grad(_sum_of_squares)(tree), _doubled(tree))


@given(trees)
def test_a_recorded_tape_takes_and_gives_the_structure(tree):
    tape = fd.record(_sum_of_squares, tree)
    _assert_same_tree(tape.gradient(tree), _doubled(tree))


def _matrix():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return numpy.matrix([[1.0, 2.0]])


hostile_leaves = st.one_of(
    st.just("a string"), st.just(b"bytes"), st.just(object()), st.just(1 + 2j),
    st.just(numpy.array([1 + 1j, 2.0])), st.just(numpy.array(["a"])),
    st.just(numpy.array([1, 2], dtype=object)), st.just(True), st.just(3),
    st.just(numpy.array([1, 2])), st.just(numpy.float32(1.5)), st.just(numpy.inf),
    st.just(numpy.nan), st.just(numpy.empty((0, 3))),
    st.just(numpy.ma.masked_array([1.0, 2.0], mask=[False, True])),
    st.just(_matrix()),
)


@given(st.recursive(st.one_of(leaves, hostile_leaves), _trees, max_leaves=6))
def test_hostile_leaves_give_an_answer_or_a_clear_error(tree):
    """Every input is either differentiated (NumPy's answer) or refused with
    a TypeError or ValueError that names the problem: never another
    exception, a crash or a silently wrong structure."""
    try:
        got = fd.grad(_sum_of_squares)(tree)
    except (TypeError, ValueError) as error:
        assert str(error), "an error without a message"
        return
    got_leaves, got_def = flatten(got)
    assert got_def == flatten(tree)[1]
