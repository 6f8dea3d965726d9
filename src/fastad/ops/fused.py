"""Fused programs: elementwise functions of float64 arrays as one node.

`fused(*leaves, program, total=False)` evaluates a program of +, -, *, /,
negation, square, sqrt, the unary functions (exp ... arctanh, abs),
maximum and minimum on leaf arrays of one shape (see fused.pxi in the core,
which builds the programs, and fa_fop in csrc/fastad_tape.h); with `total`
it is the sum of the result's elements.  Leaves are traced arrays or
constant arrays (the node's parents are the traced ones).  The numeric
reverse and tangent steps run in C (_tape._reverse_fused, _tangent_fused).
A sweep that records (nested differentiation) records a node's cotangent
or tangent as one more fused program (fused_reverse.py).  The rules below
serve every other sweep by expanding the program into fastad's own
operations, instruction by instruction, with the elementwise rules of
ops/elementwise.py: on traced values they record, on stacked cotangents or
tangents they broadcast (batched sweeps).
"""
import numpy as np

from . import defprim, elementwise
from .. import _tape
from .fused_reverse import CONSTANT_PIECEWISE, reverse_program, tangent_program
from .reductions import mean_prim, sum_prim
from .shape import broadcast_to

_OP = _tape.FUSED_OPCODES
ADD, SUB, MUL, DIV = _OP["add"], _OP["subtract"], _OP["multiply"], _OP["true_divide"]
ADDC, RSUBC, MULC = _OP["add_constant"], _OP["constant_minus"], _OP["multiply_constant"]
DIVC, RDIVC = _OP["divide_constant"], _OP["constant_divide"]
NEG, SQUARE, SQRT = _OP["negative"], _OP["square"], _OP["sqrt"]
_ARITHMETIC = {ADD, SUB, MUL, DIV, ADDC, RSUBC, MULC, DIVC, RDIVC, NEG, SQUARE, SQRT}
#: opcode -> the primitive of elementwise.py it stands for (the unary
#: functions, maximum and minimum: their rules are its rules)
_PRIMITIVES = {opcode: _tape.REGISTRY[name]
               for name, opcode in _OP.items() if opcode not in _ARITHMETIC}
_FUNCTIONS = {opcode: getattr(elementwise, name) for name, opcode in _OP.items()
              if opcode not in _ARITHMETIC}
_EXTREMA = {_OP["maximum"], _OP["minimum"]}
_BINARY_FUNCTIONS = _EXTREMA | (CONSTANT_PIECEWISE - {_OP["sign"]})
# (a / b with NumPy's IEEE result at a pole where both are Python floats, as
# the elementwise rules divide)
_div = elementwise.ieee_divide
_TRACED = (_tape.Array, _tape.Scalar)


def _operands(op, values, a, b, c):
    """The arguments of instruction (op, a, b, c) as its primitive takes them."""
    if op in _BINARY_FUNCTIONS:
        return (values[a], c if b is None else values[b])
    return (values[a],)


def _apply(op, a, b, c):
    """One instruction on plain or traced values."""
    if op == ADD:
        return a + b
    if op == SUB:
        return a - b
    if op == MUL:
        return a * b
    if op == DIV:
        return a / b
    if op == ADDC:
        return a + c
    if op == RSUBC:
        return c - a
    if op == MULC:
        return a * c
    if op == DIVC:
        return a / c
    if op == RDIVC:
        return c / a
    if op == NEG:
        return -a
    if op == SQUARE:
        return _tape.square(a)
    if op == SQRT:
        return _tape.sqrt(a)
    function = _FUNCTIONS.get(op)
    if function is None:
        raise ValueError("a fused program holds the unknown opcode %r" % (op,))
    if op in CONSTANT_PIECEWISE:
        # (sign, or a comparison as 1.0 or 0.0: plain values, no derivative)
        operands = (a,) if op == _OP["sign"] else (a, c if b is None else b)
        return np.asarray(function(*operands), dtype=np.float64)
    if op in _EXTREMA:
        return function(a, c if b is None else b)
    return function(a)


def _values(program, leaves):
    """Every register's value: the leaves, then each instruction's result."""
    values = list(leaves)
    for op, a, b, c in program:
        values.append(_apply(op, values[a], None if b is None else values[b], c))
    return values


def _plain_float64(leaves):
    return all(type(x) is np.ndarray and x.dtype == np.float64 for x in leaves)


def _fused_fun(*leaves, program, total=False):
    if leaves and _plain_float64(leaves):
        return _tape.fused_eval(program, leaves, total)
    result = _values(program, leaves)[-1]
    return sum_prim(result) if total else result


def _spread(cotangent, like, batch_shape):
    """A cotangent broadcast to the shape of the leaf `like` (behind the
    stacked axes `batch_shape` of a batched sweep)."""
    shape = tuple(batch_shape) + np.shape(like)
    if np.shape(cotangent) == shape:
        return cotangent
    if type(cotangent) in (_tape.Array, _tape.Scalar):
        return broadcast_to(cotangent, shape)
    return np.broadcast_to(cotangent, shape)


def _vjp(position, g, ans, *leaves, program, total=False):
    """The cotangent of leaf `position`: the program swept backward."""
    recorded = _recorded_vjp(position, g, leaves, program, total)
    if recorded is not None:
        return recorded
    values = _values(program, leaves)
    n = len(leaves)
    batch_shape = ()
    if total and np.ndim(g) > 0:
        # stacked cotangents of a sum: (k,) -> (k, 1, ..., 1) against the leaves
        batch_shape = np.shape(g)
        g = g.reshape(np.shape(g) + (1,) * np.ndim(leaves[0])) if hasattr(g, "reshape") \
            else np.reshape(g, np.shape(g) + (1,) * np.ndim(leaves[0]))
    elif not total and np.ndim(g) > np.ndim(leaves[0]):
        batch_shape = np.shape(g)[:np.ndim(g) - np.ndim(leaves[0])]
    adjoints = [None] * len(values)
    adjoints[-1] = g
    for j in range(len(program) - 1, -1, -1):
        gr = adjoints[n + j]
        op, a, b, c = program[j]
        if gr is None or op in CONSTANT_PIECEWISE:
            continue
        va, y = values[a], values[n + j]
        if op == ADD:
            parts = [(a, gr), (b, gr)]
        elif op == SUB:
            parts = [(a, gr), (b, -gr)]
        elif op == MUL:
            parts = [(a, gr * values[b]), (b, gr * va)]
        elif op == DIV:
            parts = [(a, _div(gr, values[b])), (b, _div(-gr * y, values[b]))]
        elif op == ADDC:
            parts = [(a, gr)]
        elif op in (RSUBC, NEG):
            parts = [(a, -gr)]
        elif op == MULC:
            parts = [(a, gr * c)]
        elif op == DIVC:
            parts = [(a, _div(gr, c))]
        elif op == RDIVC:
            parts = [(a, _div(-gr * y, va))]
        elif op == SQUARE:
            parts = [(a, gr * (2.0 * va))]
        elif op == SQRT:
            parts = [(a, gr * _div(0.5, y))]
        elif op in _PRIMITIVES:
            rules = _PRIMITIVES[op].vjps
            args = _operands(op, values, a, b, c)
            parts = [(a, rules[0](gr, y, *args))]
            if b is not None:
                parts.append((b, rules[1](gr, y, *args)))
        else:
            raise ValueError("a fused program holds the unknown opcode %r" % (op,))
        for register, cotangent in parts:
            previous = adjoints[register]
            adjoints[register] = cotangent if previous is None else previous + cotangent
    cotangent = adjoints[position]
    if cotangent is None:  # (a leaf no instruction reads: not built by _tape)
        cotangent = 0.0 * g
    return _spread(cotangent, leaves[position], batch_shape)


def _recorded_vjp(position, g, leaves, program, total):
    """The cotangent of leaf `position` as one fused node (fused_reverse.py)
    when the sweep records (a leaf or the cotangent traced): None where the
    program or the operands are not for it (the expanding rule then runs;
    _tape.record_program checks the operands)."""
    shape = leaves[0].shape
    if total:
        # (a sum's scalar cotangent, applied as fa_fused_sum_vjp applies it)
        if type(g) is float or type(g) is np.float64:
            cotangent = np.full(shape, g)
        elif type(g) is _tape.Scalar:
            cotangent = broadcast_to(g, shape)
        else:
            return None
    elif type(g) in (_tape.Array, np.ndarray) and g.shape == shape:
        cotangent = g
    else:
        return None
    return _record_found(reverse_program(program, len(leaves), position, total), leaves,
                         cotangent, False)


def _recorded_jvp(position, t, leaves, program, total):
    """The tangent for leaf `position`'s tangent t as one fused node (a sum's
    as a fused sum) when the sweep records: None where the program or the
    operands are not for it (the expanding rule then runs)."""
    if type(t) not in (_tape.Array, np.ndarray) or t.shape != leaves[0].shape:
        return None
    return _record_found(tangent_program(program, len(leaves), position), leaves, t, total)


def _record_found(found, leaves, extra, total):
    """Record the program `found` ((code, registers read) or None) over the
    leaves and `extra` (the cotangent or tangent: the register after them)."""
    if found is None:
        return None
    code, reads = found
    n = len(leaves)
    return _tape.record_program(code, tuple([leaves[r] if r < n else extra for r in reads]), total)


def _jvp(position, t, ans, *leaves, program, total=False):
    """The tangent of the result for the tangent t of leaf `position` alone."""
    recorded = _recorded_jvp(position, t, leaves, program, total)
    if recorded is not None:
        return recorded
    values = _values(program, leaves)
    n = len(leaves)
    tangents = [None] * len(values)
    tangents[position] = t
    for j, (op, a, b, c) in enumerate(program):
        ta = tangents[a]
        tb = tangents[b] if b is not None else None
        if (ta is None and tb is None) or op in CONSTANT_PIECEWISE:
            continue
        va, y = values[a], values[n + j]
        if op in (ADD, SUB, MUL, DIV):
            vb = values[b]
            if op == ADD:
                terms = [ta, tb]
            elif op == SUB:
                terms = [ta, None if tb is None else -tb]
            elif op == MUL:
                terms = [None if ta is None else ta * vb, None if tb is None else va * tb]
            else:
                terms = [None if ta is None else _div(ta, vb), None if tb is None else _div(-tb * y, vb)]
            terms = [x for x in terms if x is not None]
            tangents[n + j] = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        elif op == ADDC:
            tangents[n + j] = ta
        elif op in (RSUBC, NEG):
            tangents[n + j] = -ta
        elif op == MULC:
            tangents[n + j] = ta * c
        elif op == DIVC:
            tangents[n + j] = _div(ta, c)
        elif op == RDIVC:
            tangents[n + j] = _div(-ta * y, va)
        elif op == SQUARE:
            tangents[n + j] = ta * (2.0 * va)
        elif op == SQRT:
            tangents[n + j] = ta * _div(0.5, y)
        elif op in _PRIMITIVES:
            rules = _PRIMITIVES[op].jvps
            args = _operands(op, values, a, b, c)
            terms = [rules[0](ta, y, *args) if ta is not None else None,
                     rules[1](tb, y, *args) if tb is not None else None]
            terms = [x for x in terms if x is not None]
            tangents[n + j] = terms[0] if len(terms) == 1 else terms[0] + terms[1]
        else:
            raise ValueError("a fused program holds the unknown opcode %r" % (op,))
    result = tangents[-1]
    if result is None:
        result = 0.0 * values[-1]
    if total:
        extra = np.ndim(result) - np.ndim(leaves[0])
        return sum_prim(result, axis=tuple(range(extra, np.ndim(result)))) if extra else sum_prim(result)
    return result


def _taylor(parents, d, ans, *leaves, program, total=False):
    """Truncated Taylor series through the program (coefficients first)."""
    n = len(leaves)
    series = []
    for k, leaf in enumerate(leaves):
        s = parents.get(k)
        if s is None:
            s = np.zeros((d + 1,) + np.shape(leaf))
            s[0] = leaf
        series.append(np.asarray(s, np.float64))
    for op, a, b, c in program:
        sa = series[a]
        if op in (ADD, SUB, MUL, DIV):
            out = _tape.series_binary(op, sa, series[b])
        elif op in (ADDC, RSUBC):
            out = sa.copy() if op == ADDC else -sa
            out[0] += c
        elif op == MULC:
            out = sa * c
        elif op == DIVC:
            out = sa / c
        elif op == RDIVC:
            constant = np.zeros_like(sa)
            constant[0] = c
            out = _tape.series_binary(DIV, constant, sa)
        elif op == NEG:
            out = -sa
        elif op in _EXTREMA:
            if b is None:
                sb = np.zeros_like(sa)
                sb[0] = c
            else:
                sb = series[b]
            out = _tape.series_binary(op, sa, sb)
        elif op in CONSTANT_PIECEWISE:
            out = np.zeros_like(sa)  # (piecewise constant: its value, no higher terms)
            out[0] = _apply(op, sa[0], None if b is None else series[b][0], c)
        else:
            out = _tape.series_unary(op, sa)
        series.append(out)
    out = series[-1]
    return out.reshape(d + 1, -1).sum(axis=1) if total else out


fused = defprim("fused", _fused_fun, vjps=[], jvps=[], vjp_variadic=_vjp, jvp_variadic=_jvp,
                elementwise=True)
fused.taylor_rule = _taylor
_tape.register_fused(fused, sum_prim, mean_prim)
