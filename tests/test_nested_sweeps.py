"""The sweeps a nested operator records, pushed by C (csrc/fastad_record.c):
node for node the tape the op table's rules record through Python, for
every scalar opcode and every pair of modes; guards, NaN checks and
interleaved array operations kept."""
import struct

import numpy
import pytest

import fastad as fd
import fastad.numpy as np
from fastad import sweeps

from test_higher import SCALAR_UNARY

C = 1.7

#: every scalar opcode's function, at points inside its domain; binary ones
#: between two nodes, and with a constant on either side
CASES = {name: (getattr(np, name), 0.45) for name in SCALAR_UNARY}
CASES["arccosh"] = (np.arccosh, 1.6)
for _name in ["add", "subtract", "multiply", "divide", "power", "maximum", "minimum",
              "arctan2", "hypot"]:
    _op = getattr(np, _name)
    CASES[_name] = (lambda u, op=_op: op(u, u * 0.5 + 1.0), 0.45)
    CASES[_name + " c"] = (lambda u, op=_op: op(u, C), 0.45)
    CASES["c " + _name] = (lambda u, op=_op: op(C, u), 0.45)
CASES["maximum tie"] = (lambda u: np.maximum(u, u) * u, 0.45)
for _exponent in (0.0, 1.0, 2.0, 3.0, -0.5):
    CASES["power %g" % _exponent] = (lambda u, e=_exponent: u ** e * u, 0.45)
CASES["zero ** x"] = (lambda u: 0.0 ** u + u, 0.45)
CASES["arrays between"] = (
    lambda u: np.sum(np.sin(np.array([u, u * u, 2.0])) ** 2) * np.tanh(u)
    + np.stack([u, u ** 3])[1] / (1.0 + u), 0.45)

MODES = {
    "rr": lambda f: fd.grad(fd.grad(f)),
    "fr": lambda f: fd.jacfwd(fd.grad(f)),
    "rf": lambda f: fd.grad(fd.jacfwd(f)),
    "ff": lambda f: fd.jacfwd(fd.jacfwd(f)),
    "rrr": lambda f: fd.grad(fd.grad(fd.grad(f))),
    "frf": lambda f: fd.jacfwd(fd.grad(fd.jacfwd(f))),
}


def _nodes(tape):
    """Every node of a recorded tape as (opcode, operands, primal bits,
    constant bits)."""
    core = tape._tape
    out = []
    for i in range(len(core)):
        opcode, a, b, value = core.raw(i)
        constant = (struct.pack("d", core.constant(b)) if opcode in fd._tape.CONST_OPCODES
                    else None)
        out.append((opcode, a, b, struct.pack("d", value), constant))
    return out


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(CASES))
def test_c_recorded_sweeps_are_the_rules_node_for_node(name, mode, monkeypatch):
    fun, x = CASES[name]
    operator = MODES[mode](fun)
    in_c = fd.record(operator, x)
    monkeypatch.setattr(sweeps, "_PYTHON_OPCODES", frozenset(range(256)))  # every node by rules
    by_rules = fd.record(operator, x)
    assert _nodes(in_c) == _nodes(by_rules)
    monkeypatch.undo()
    for point in (x, x * 1.1):
        numpy.testing.assert_array_equal(in_c(point), operator(point))


def test_second_derivatives_of_every_scalar_opcode_match_central_differences():
    for name, (fun, x) in CASES.items():
        first, second = fd.grad(fun), fd.grad(fd.grad(fun))
        h = 1e-5
        expected = (first(x + h) - first(x - h)) / (2 * h)
        assert second(x) == pytest.approx(expected, rel=1e-6, abs=1e-7), name
        assert fd.jacfwd(fd.jacfwd(fun))(x) == pytest.approx(second(x), rel=1e-13, abs=1e-14), name


def test_guards_of_an_inner_sweep_are_checked_on_replay():
    # maximum's rule compares its operands with its result: the comparisons
    # the C sweep pushes are guards with a source line, as the rules' are
    f = lambda u: np.maximum(u * u, 0.5) * u  # noqa: E731
    tape = fd.record(fd.grad(fd.grad(f)), 1.0)
    assert tape(2.0) == fd.grad(fd.grad(f))(2.0) == 12.0
    with pytest.raises(fd.RetapeRequired, match=r"test_nested_sweeps\.py"):
        tape(0.1)
    assert fd.record(fd.grad(fd.grad(f)), 1.0, retape=True)(0.1) == 0.0


def test_debug_nans_sees_the_nodes_an_inner_sweep_pushes():
    # d/dx sqrt(x) * 0 at x = 0: the inner sweep computes 0 * (0.5 / 0) = NaN
    f = lambda u: np.sqrt(u) * 0.0  # noqa: E731
    fd.grad(fd.grad(f))(0.0)
    with fd.debug_nans(), pytest.raises(FloatingPointError, match="multiply"):
        fd.grad(fd.grad(f))(0.0)


def test_an_inner_sweep_over_a_long_chain_records_linearly():
    # each inner node pushes a bounded number of nodes, whatever the length
    def chain(u, n):
        for k in range(n):
            u = np.sin(u * 1.0001 + 0.001 * k)
        return u
    lengths = [len(fd.record(fd.grad(fd.grad(lambda u: chain(u, n))), 0.3)) for n in (100, 200)]
    assert lengths[1] < 2.05 * lengths[0]


def _decisions(u):
    """A function deciding on traced values: a while test and an if."""
    y = u
    while y < 3.0:
        y = y * 1.5 + np.sin(y) * 0.1
    if u > 1.0:
        return y * np.sin(u)
    return y * np.exp(u)


def _count(u):
    y, n = u, 0
    while y < 3.0:
        y, n = y * 1.5 + numpy.sin(y) * 0.1, n + 1
    return n


OPERATORS = {"r": fd.grad, "f": fd.jacfwd}
NESTINGS = ["rr", "rf", "fr", "ff", "rrr", "rrf", "rfr", "frr", "rff", "frf", "ffr", "fff"]


@pytest.mark.parametrize("nesting", NESTINGS)
def test_recorded_nested_tapes_replay_as_retracing_and_flip_their_guards(nesting):
    operator = _decisions
    for name in reversed(nesting):
        operator = OPERATORS[name](operator)
    x = 1.2
    same, loop_flips, branch_flips = x * (1 + 1e-6), 0.7, 0.9
    assert _count(same) == _count(x) and _count(loop_flips) != _count(x)
    assert _count(branch_flips) == _count(x)  # the if flips alone
    tape = fd.record(operator, x)
    for point in (x, same, x):
        assert struct.pack("d", tape(point)) == struct.pack("d", operator(point))
    for point in (loop_flips, branch_flips):
        with pytest.raises(fd.RetapeRequired):
            tape(point)
        retaping = fd.record(operator, x, retape=True)
        assert struct.pack("d", retaping(point)) == struct.pack("d", operator(point))
    h = 1e-4
    lower = OPERATORS["r"](operator) if len(nesting) < 3 else None
    if lower is not None:  # one order more, against central differences of this one
        assert lower(x) == pytest.approx((operator(x + h) - operator(x - h)) / (2 * h), rel=1e-5)


def test_nested_jacfwd_of_scalars_sweeps_each_input_alone():
    # scalars in, a scalar out: one recorded tangent sweep per input, seeded
    # there alone, and the derivatives as traced scalars (no array of
    # directions stacked and cut again); the same numbers as reverse mode
    f = lambda p: p[0] * np.sin(p[1]) + p[1] ** 3 / p[0]  # noqa: E731
    inner = []

    def outer(p):
        inner.append(fd.jacfwd(f)(p))
        return inner[-1][0] * inner[-1][1]
    point = [0.7, 1.3]
    assert fd.grad(outer)(point) == pytest.approx(
        fd.grad(lambda p: fd.grad(f)(p)[0] * fd.grad(f)(p)[1])(point), rel=1e-14)
    assert all(type(d) is fd._tape.Scalar for d in inner[0])
    length = len(fd.record(lambda p: fd.jacfwd(f)(p)[0], point))
    assert length < 40  # no stack, reshape or moveaxis nodes


def test_sweep_handles_refuse_what_they_cannot_hold():
    seen = {}

    def f(u):
        seen["tape"], seen["u"] = u.tape, u
        return u * u
    fd.grad(f)(1.0)
    tape, u = seen["tape"], seen["u"]
    with pytest.raises(ValueError, match="not a range"):
        fd._tape.SweepHandles(tape, 0, len(tape) + 1)
    handles = fd._tape.SweepHandles(tape, 0, len(tape))
    with pytest.raises(IndexError, match="outside the swept range"):
        handles.set(len(tape), 1.0)
    with pytest.raises(IndexError, match="outside the swept range"):
        handles.reverse(len(tape) + 1)
    with pytest.raises(IndexError, match="outside the swept range"):
        handles.tangent(-1)
    with pytest.raises(TypeError, match="not str"):
        handles.set(0, "one")
    other = {}
    fd.grad(lambda v: other.setdefault("v", v) * 2.0)(1.0)
    with pytest.raises(fd._tape.TracerError):
        handles.set(0, other["v"])
    handles.set(u.node, 2.0)
    assert handles.get(u.node) == 2.0 and handles.get(len(tape) + 5) is None
    handles.set(u.node, None)
    assert handles.get(u.node) is None
    with pytest.raises(fd._tape.TracerError, match="after the fastad operator"):
        handles.reverse(len(tape))  # the call has returned: its tape records no more


def test_an_inner_sweep_that_fills_the_tape_is_a_memory_error():
    # the C sweep stops at the full tape and says so; the tape stays usable
    def chain(u):
        for _ in range(300):
            u = np.sin(u) * 1.0001
        return u
    previous = fd._tape.set_max_nodes(1000)
    try:
        with pytest.raises(MemoryError, match="tape could not grow"):
            fd.grad(fd.grad(chain))(0.3)
        assert fd.grad(fd.grad(lambda u: u * u * u))(2.0) == 12.0
    finally:
        fd._tape.set_max_nodes(previous)


@pytest.mark.parametrize("name", ["sqrt", "log", "arcsin", "arctanh", "reciprocal", "cbrt",
                                  "divide c", "c divide", "power -0.5", "hypot", "arctan2"])
@pytest.mark.parametrize("x", [0.0, -0.0, 1.0, numpy.inf, numpy.nan])
def test_c_recorded_sweeps_are_the_rules_at_poles_and_infinities(name, x, monkeypatch):
    # where the derivative is infinite or NaN the nodes still match, bits and all
    fun = CASES[name][0]
    in_c = fd.record(fd.grad(fd.grad(fun)), x)
    monkeypatch.setattr(sweeps, "_PYTHON_OPCODES", frozenset(range(256)))
    assert _nodes(in_c) == _nodes(fd.record(fd.grad(fd.grad(fun)), x))
