"""The recorded (differentiable) reverse sweep, for nested operators.

When an operator runs inside another one (grad of grad, jvp of grad, ...)
its backward sweep must not compute numbers: it records the adjoint
computation onto the same tape, so that the result is traced and the outer
operator can differentiate it again.  This sweep does that.  It walks the
operator's own range of the tape, [start, end), and calls the op table's
rules on traced boxes of the recorded primals; the rules are written with
fastad.numpy, so every operation they perform is recorded.  Nodes below
`start` belong to outer levels and are constants here.

The numeric sweep (Tape.backward) stays the fast path for top-level calls.
"""
import numpy as np

from . import _tape

Scalar, Array = _tape.Scalar, _tape.Array
_TRACED = (Scalar, Array)

LEAF, EXT = 0, 1
_CONST_OPS = _tape.CONST_OPCODES  # opcode -> (binary opcode, constant comes first)


def _binary_rules():
    """opcode -> the VJP rules of the primitive registered for it: the C
    kernels and the recorded sweep share the op table's definitions."""
    from .ops import REGISTRY
    return {p.opcode: p.vjps for p in REGISTRY.values()
            if p.opcode >= 0 and p.vjps is not None}


_RULES = None


def _rules():
    global _RULES
    if _RULES is None:
        _RULES = _binary_rules()
    return _RULES


def _shape_dtype(tape, node):
    ext = tape.ext(node)
    if ext is None or ext.scalar_out:
        return (), np.dtype(np.float64)
    return ext.shape, ext.dtype


def unbroadcast(c, shape, dtype):
    """Traced counterpart of _tape.unbroadcast: sum `c` over broadcast axes
    so that it has exactly `shape`, and cast it to `dtype`."""
    from . import numpy as fnp
    cshape = np.shape(c)
    if cshape != shape:
        extra = len(cshape) - len(shape)
        if extra > 0:
            c = fnp.sum(c, axis=tuple(range(extra)))
            cshape = np.shape(c)
        if len(cshape) == len(shape):
            axes = tuple(k for k in range(len(shape)) if shape[k] == 1 and cshape[k] != 1)
            if axes:
                c = fnp.sum(c, axis=axes, keepdims=True)
        if np.shape(c) != shape:
            c = fnp.broadcast_to(c, shape)
    if shape == ():
        if type(c) is Array and c.dtype == np.float64:
            c = c[()]  # a 0-d float64 array: back to a traced scalar
        return c
    c_dtype = c.dtype if hasattr(c, "dtype") else np.result_type(c)
    if c_dtype != dtype:
        c = c.astype(dtype) if type(c) in _TRACED else np.asarray(c, dtype)
    return c


def reverse(tape, start, seeds, inputs):
    """Recorded reverse sweep over nodes [start, len(tape)).

    `seeds`: (traced output, cotangent) pairs, cotangents plain or traced;
    `inputs`: the nodes whose adjoints to return.  Returns one adjoint per
    input: a traced value, a plain number or array, or None (no path)."""
    adjoint = {}

    def accumulate(node, c):
        if c is None or node < start:
            return
        shape, dtype = _shape_dtype(tape, node)
        c = unbroadcast(c, shape, dtype)
        previous = adjoint.get(node)
        adjoint[node] = c if previous is None else previous + c

    for output, cotangent in seeds:
        accumulate(output.node, cotangent)
    rules = _rules()
    wanted = set(inputs)
    for i in range(len(tape) - 1, start - 1, -1):
        g = adjoint.get(i) if i in wanted else adjoint.pop(i, None)
        if g is None:
            continue
        opcode, a, b, _ = tape.raw(i)
        if opcode == LEAF or _tape.FIRST_COMPARISON <= opcode <= _tape.LAST_COMPARISON:
            continue
        if opcode == EXT:
            _reverse_ext(tape, i, g, accumulate)
            continue
        ans = tape.box(i)
        if opcode in _CONST_OPS:
            binary, constant_first = _CONST_OPS[opcode]
            c = tape.constant(b)
            x = tape.box(a)
            if constant_first:
                accumulate(a, rules[binary][1](g, ans, c, x))
            else:
                accumulate(a, rules[binary][0](g, ans, x, c))
        elif opcode in rules and _tape.FIRST_BINARY <= opcode <= _tape.LAST_BINARY:
            x, y = tape.box(a), tape.box(b)
            rule_x, rule_y = rules[opcode]
            accumulate(a, rule_x(g, ans, x, y))
            accumulate(b, rule_y(g, ans, x, y))
        elif opcode in rules:
            accumulate(a, rules[opcode][0](g, ans, tape.box(a)))
        # else: sign, piecewise constant: no derivative
    return [adjoint.get(node) for node in inputs]


def _reverse_ext(tape, node, g, accumulate):
    ext = tape.ext(node)
    prim = ext.primitive
    if prim is None:
        return
    args = list(ext.args)
    for position, parent in ext.parents:
        args[position] = tape.box_with(parent, args[position])
    ans = tape.box(node)
    kwargs = ext.kwargs or {}
    for position, parent in ext.parents:
        rule = prim.vjp_rule(position)
        accumulate(parent, rule(g, ans, *args, **kwargs))
