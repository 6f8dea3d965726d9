"""The reverse and tangent sweeps of a fused program, as fused programs.

When a sweep over a fused node is itself recorded (forward-over-reverse
HVPs, reverse-over-reverse), the node's cotangent for one leaf becomes one
more fused node: the primal program followed by its reverse sweep, written
as instructions, with the cotangent as one more leaf.  A recorded tangent
sweep (forward-over-forward, reverse-over-forward) records a node's tangent
for one leaf's tangent the same way (tangent_program: fa_fused_jvp's
expressions).  Recording one costs one node instead of an operation per
instruction and per rule, it runs in C a block at a time like the primal,
and its own derivatives are those of any fused program (its tangent step
in C; the rules of ops/fused.py for the rest), to any order.

The instructions are the C reverse sweep's expressions (reverse_block and
UNARY_RULE in csrc/fastad_fused.c) in its order of operations, the first
contribution to a register stored and the later ones added, and a sum's
cotangent applied last (fa_fused_sum_vjp): the recorded cotangent equals
the numeric one to the bit.  abs's sign and the shares of maximum and
minimum are computed in the program by the opcodes through which no
derivative flows (sign and the comparisons), from the values at hand: a
replay at other inputs recomputes them there, as a traced call would.
"""
import functools

import numpy as np

from .. import _tape

_OP = _tape.FUSED_OPCODES
ADD, SUB, MUL, DIV = _OP["add"], _OP["subtract"], _OP["multiply"], _OP["true_divide"]
ADDC, RSUBC, MULC = _OP["add_constant"], _OP["constant_minus"], _OP["multiply_constant"]
DIVC, RDIVC = _OP["divide_constant"], _OP["constant_divide"]
NEG, SQUARE, SQRT, SIGN, EQ = (_OP["negative"], _OP["square"], _OP["sqrt"], _OP["sign"],
                               _OP["equal"])
#: the opcodes no derivative flows through
CONSTANT_PIECEWISE = frozenset(_OP[name] for name in (
    "sign", "less", "less_equal", "greater", "greater_equal", "equal", "not_equal"))
_EXTREMA = frozenset((_OP["maximum"], _OP["minimum"]))
# (C's LN2 and LN10 literals, read as C reads them)
_LN2 = float("0.693147180559945309417232121458176568")
_LN10 = float("2.30258509299404568401799145468436421")
# the function of the operand that sin, cos, sinh and cosh's derivatives read
_AUX = {_OP[f]: _OP[aux] for f, aux in (("sin", "cos"), ("cos", "sin"), ("sinh", "cosh"),
                                        ("cosh", "sinh")) if f in _OP and aux in _OP}


class _Writer:
    """Instructions appended after a program's; an operand is a register
    (int) or a constant (float), and operations on constants alone are done
    here, as C would do them on every element."""

    def __init__(self, program, n_registers):
        self.code = list(program)
        self.n = n_registers  # (the first register an appended instruction writes)

    def emit(self, op, a, b=None, c=0.0):
        self.code.append((op, a, b, c))
        return self.n + len(self.code) - 1

    def add(self, x, y):
        if type(x) is float and type(y) is float:
            return x + y
        if type(x) is float:
            x, y = y, x
        return self.emit(ADDC, x, None, y) if type(y) is float else self.emit(ADD, x, y)

    def sub(self, x, y):
        if type(x) is float and type(y) is float:
            return x - y
        if type(y) is float:
            return self.emit(ADDC, x, None, -y)  # (x - c rounds as x + (-c))
        return self.emit(RSUBC, y, None, x) if type(x) is float else self.emit(SUB, x, y)

    def mul(self, x, y):
        if type(x) is float and type(y) is float:
            return x * y
        if type(x) is float:
            x, y = y, x
        if type(y) is float:
            return x if y == 1.0 else self.emit(MULC, x, None, y)  # (x * 1.0 is x)
        return self.emit(MUL, x, y)

    def div(self, x, y):
        if type(x) is float and type(y) is float:
            with np.errstate(all="ignore"):  # (IEEE: x / 0 is inf or nan, as in C)
                return float(np.float64(x) / np.float64(y))
        if type(y) is float:
            return self.emit(DIVC, x, None, y)
        return self.emit(RDIVC, y, None, x) if type(x) is float else self.emit(DIV, x, y)

    def neg(self, x):
        return -x if type(x) is float else self.emit(NEG, x)

    def unary(self, op, x):
        return self.emit(op, x)

    def equal(self, x, y):
        return self.emit(EQ, x, None, y) if type(y) is float else self.emit(EQ, x, y)

    def share(self, x, y, other):
        """maximum's and minimum's share for operand x of result y:
        (x == y) / (1 + (x == other)), 1/2 on a tie (C's extremum_share)."""
        return self.div(self.equal(x, y), self.add(1.0, self.equal(x, other)))


def _unary_rule(w, op, g, a, y):
    """g times the derivative of unary instruction op (C's UNARY_RULE)."""
    if op == _OP["absolute"]:
        return w.mul(g, w.unary(SIGN, a))
    if op == _OP["cbrt"]:
        return w.div(g, w.mul(w.mul(3.0, y), y))
    if op == _OP["reciprocal"]:
        return w.mul(w.neg(g), w.mul(y, y))
    if op == _OP["exp"]:
        return w.mul(g, y)
    if op == _OP["exp2"]:
        return w.mul(g, w.mul(y, _LN2))
    if op == _OP["expm1"]:
        return w.mul(g, w.add(y, 1.0))
    if op == _OP["log"]:
        return w.div(g, a)
    if op == _OP["log1p"]:
        return w.div(g, w.add(1.0, a))
    if op == _OP["log2"]:
        return w.div(g, w.mul(a, _LN2))
    if op == _OP["log10"]:
        return w.div(g, w.mul(a, _LN10))
    if op in _AUX:
        if op == _OP["cos"]:
            return w.mul(w.neg(g), w.unary(_AUX[op], a))
        return w.mul(g, w.unary(_AUX[op], a))
    if op == _OP["tan"]:
        return w.mul(g, w.add(1.0, w.mul(y, y)))
    if op in (_OP["arcsin"], _OP["arccos"]):
        root = w.unary(SQRT, w.mul(w.sub(1.0, a), w.add(1.0, a)))
        return w.div(g if op == _OP["arcsin"] else w.neg(g), root)
    if op == _OP["arctan"]:
        return w.div(g, w.add(1.0, w.mul(a, a)))
    if op == _OP["tanh"]:
        return w.mul(g, w.sub(1.0, w.mul(y, y)))
    if op == _OP["arcsinh"]:
        return w.div(g, w.unary(SQRT, w.add(w.mul(a, a), 1.0)))
    if op == _OP["arccosh"]:
        return w.div(g, w.unary(SQRT, w.mul(w.sub(a, 1.0), w.add(a, 1.0))))
    if op == _OP["arctanh"]:
        return w.div(g, w.mul(w.sub(1.0, a), w.add(1.0, a)))
    return None


def _contributions(w, op, g, a, b, c, y):
    """[(register, contribution)] of instruction (op, a, b, c) of value y
    for its cotangent g, in C's order; None for an opcode not written here."""
    if op == ADD:
        return [(a, g), (b, g)]
    if op == SUB:
        return [(a, g), (b, w.neg(g))]
    if op == MUL:
        return [(a, w.mul(g, b)), (b, w.mul(g, a))]
    if op == DIV:
        return [(a, w.div(g, b)), (b, w.div(w.mul(w.neg(g), y), b))]
    if op == ADDC:
        return [(a, g)]
    if op in (RSUBC, NEG):
        return [(a, w.neg(g))]
    if op == MULC:
        return [(a, w.mul(g, c))]
    if op == DIVC:
        return [(a, w.div(g, c))]
    if op == RDIVC:
        return [(a, w.div(w.mul(w.neg(g), y), a))]
    if op == SQUARE:
        return [(a, w.mul(g, w.mul(2.0, a)))]
    if op == SQRT:
        return [(a, w.mul(g, w.div(0.5, y)))]
    if op in _EXTREMA:
        if b is None:
            return [(a, w.mul(g, w.share(a, y, c)))]
        return [(a, w.mul(g, w.share(a, y, b))), (b, w.mul(g, w.share(b, y, a)))]
    d = _unary_rule(w, op, g, a, y)
    return None if d is None else [(a, d)]


@functools.lru_cache(maxsize=512)
def reverse_program(program, n_leaves, position, total):
    """The program of leaf `position`'s cotangent, over the leaves
    0 .. n_leaves - 1 and the cotangent as leaf n_leaves (of the result's
    shape; a sum's scalar cotangent broadcast), or None where it is not one
    (an opcode not written here, or a cotangent that is a leaf or a
    constant itself: the rules do those).  Returns (program, leaves read):
    the program numbers the leaves it reads, in order, from 0."""
    n = n_leaves + 1
    program = _shifted(program, n_leaves)
    w = _Writer(program, n)
    # the registers a derivative of `position` reaches (not through a sign
    # or comparison): contributions to the others are not needed
    depends = [r == position for r in range(n)]
    for op, a, b, c in program:
        depends.append(op not in CONSTANT_PIECEWISE
                       and (depends[a] or (b is not None and depends[b])))
    adjoint = {n + len(program) - 1: 1.0 if total else n_leaves}
    for j in range(len(program) - 1, -1, -1):
        g = adjoint.pop(n + j, None)
        op, a, b, c = program[j]
        if g is None or op in CONSTANT_PIECEWISE:
            continue
        parts = _contributions(w, op, g, a, b, float(c), n + j)
        if parts is None:
            return None
        for register, d in parts:
            if depends[register]:
                previous = adjoint.get(register)
                adjoint[register] = d if previous is None else w.add(previous, d)
    result = adjoint.get(position)
    if total and result is not None:
        result = w.mul(result, n_leaves)  # (fa_fused_sum_vjp: d * g, after the sweep)
    if type(result) is not int or result < n:
        return None
    return _live(w.code, n, result)


def _shifted(program, n_leaves):
    """The primal's instructions with their registers moved past one more
    leaf (the cotangent's or the tangent's, register n_leaves)."""
    return tuple((op, a + (a >= n_leaves), None if b is None else b + (b >= n_leaves), c)
                 for op, a, b, c in program)


def _live(code, n, result):
    """The instructions `result` reads, directly or not, renumbered over the
    leaves they read (in order), and those leaves."""
    read = set()
    stack = [result]
    while stack:
        r = stack.pop()
        if r in read:
            continue
        read.add(r)
        if r >= n:
            op, a, b, c = code[r - n]
            stack.append(a)
            if b is not None:
                stack.append(b)
    leaves = sorted(r for r in read if r < n)
    number = {r: k for k, r in enumerate(leaves)}
    for r in sorted(r for r in read if r >= n):
        number[r] = len(number)
    out = tuple((op, number[a], None if b is None else number[b], c)
                for j, (op, a, b, c) in enumerate(code) if n + j in read)
    return out, tuple(leaves)


def _tangent_rule(w, op, ta, tb, a, b, c, y):
    """The tangent of instruction (op, a, b, c) of value y from its
    operands' (ta, tb; None where none reaches): fa_fused_jvp's
    expressions; None for an opcode not written here."""
    if op == ADD:
        return w.add(ta, tb) if ta is not None and tb is not None else (ta if tb is None else tb)
    if op == SUB:
        if tb is None:
            return ta
        return w.neg(tb) if ta is None else w.add(ta, w.neg(tb))
    if op == MUL:
        terms = [None if ta is None else w.mul(ta, b), None if tb is None else w.mul(a, tb)]
    elif op == DIV:
        terms = [None if ta is None else w.div(ta, b),
                 None if tb is None else w.div(w.mul(w.neg(tb), y), b)]
    elif op in _EXTREMA:
        if b is None:
            return w.mul(ta, w.share(a, y, c))
        terms = [None if ta is None else w.mul(ta, w.share(a, y, b)),
                 None if tb is None else w.mul(tb, w.share(b, y, a))]
    elif op == ADDC:
        return ta
    elif op in (RSUBC, NEG):
        return w.neg(ta)
    elif op == MULC:
        return w.mul(ta, c)
    elif op == DIVC:
        return w.div(ta, c)
    elif op == RDIVC:
        return w.div(w.mul(w.neg(ta), y), a)
    elif op == SQUARE:
        return w.mul(ta, w.mul(2.0, a))
    elif op == SQRT:
        return w.mul(ta, w.div(0.5, y))
    else:
        return _unary_rule(w, op, ta, a, y)
    terms = [x for x in terms if x is not None]
    return terms[0] if len(terms) == 1 else w.add(terms[0], terms[1])


@functools.lru_cache(maxsize=512)
def tangent_program(program, n_leaves, position):
    """The program of the result's tangent for a tangent of leaf `position`
    alone (leaf n_leaves, of the leaves' shape), fa_fused_jvp's expressions
    in its order of operations, or None where it is not one (an opcode not
    written here, or a tangent that is a leaf itself).  Returns (program,
    leaves read), as reverse_program."""
    n = n_leaves + 1
    program = _shifted(program, n_leaves)
    w = _Writer(program, n)
    tangent = {position: n_leaves}
    for j, (op, a, b, c) in enumerate(program):
        ta, tb = tangent.get(a), None if b is None else tangent.get(b)
        if (ta is None and tb is None) or op in CONSTANT_PIECEWISE:
            continue
        t = _tangent_rule(w, op, ta, tb, a, b, float(c), n + j)
        if t is None:
            return None
        tangent[n + j] = t
    result = tangent.get(n + len(program) - 1)
    if type(result) is not int or result < n:
        return None
    return _live(w.code, n, result)
