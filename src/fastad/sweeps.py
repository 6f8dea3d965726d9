"""The recorded (differentiable) reverse sweep, for nested operators.

When an operator runs inside another one (grad of grad, jvp of grad, ...)
its backward sweep must not compute numbers: it records the adjoint
computation onto the same tape, so that the result is traced and the outer
operator can differentiate it again.  This sweep does that.  It walks the
operator's own range of the tape, [start, end), and calls the op table's
rules on traced boxes of the recorded primals; the rules are written with
fastad.numpy, so every operation they perform is recorded.  Nodes below
`start` belong to outer levels and are constants here.

Runs of scalar nodes are recorded by C (csrc/fastad_record.c, through
_tape.SweepHandles): each opcode's rule written out, pushing the same nodes
the rule pushes here, without a Python call per node.  This module applies
the rules itself to array nodes, element reads and traced exponents, and
reads and writes the same adjoints.

The numeric sweep (Tape.backward) stays the fast path for top-level calls.
"""
import numpy as np

from . import _tape
from .ops import REGISTRY, elementwise, reductions
from .ops.shape import broadcast_to, concatenate, reshape, stack, untake
from .ops.tracing import TRACED as _TRACED

Array = _tape.Array
Scalar = _tape.Scalar
_FLOAT64 = np.dtype(np.float64)
_ARRAYS = (Array, np.ndarray)

LEAF, EXT, ELEM = 0, 1, _tape.ELEM_OPCODE
_CONST_OPS = _tape.CONST_OPCODES  # opcode -> (binary opcode, constant comes first)


def _vjp_rules():
    """opcode -> the VJP rules of the primitive registered for it: the C
    kernels and the recorded sweep share the op table's definitions."""
    return {p.opcode: p.vjps for p in REGISTRY.values()
            if p.opcode >= 0 and p.vjps is not None}


_RULES = None


def _rules():
    global _RULES
    if _RULES is None:
        _RULES = _vjp_rules()
    return _RULES


def _node_kind(tape, node):
    """(shape, dtype, scalar) of a node: `scalar` when it is boxed as a
    traced Scalar (a scalar opcode, or an array operation with a scalar
    result), not a 0-d array."""
    ext = tape.ext(node)
    if ext is None or ext.scalar_out:
        return (), _FLOAT64, True
    return ext.shape, ext.dtype, False


def unbroadcast(c, shape, dtype):
    """Traced counterpart of _tape.unbroadcast: sum `c` over broadcast axes
    so that it has exactly `shape`, and cast it to `dtype`."""
    if type(c) in _ARRAYS and c.shape == shape and c.dtype == dtype:
        return c  # (the common case: nothing to do)
    cshape = np.shape(c)
    if cshape != shape:
        extra = len(cshape) - len(shape)
        if extra > 0:
            c = reductions.sum(c, axis=tuple(range(extra)))
            cshape = np.shape(c)
        if len(cshape) == len(shape):
            axes = tuple(k for k in range(len(shape)) if shape[k] == 1 and cshape[k] != 1)
            if axes:
                c = reductions.sum(c, axis=axes, keepdims=True)
        if np.shape(c) != shape:
            c = broadcast_to(c, shape)
    c = _real_for(c, dtype)
    if shape == ():
        if type(c) is Array and c.dtype == np.float64:
            c = c[()]  # a 0-d float64 array: back to a traced scalar
        return c
    c_dtype = c.dtype if hasattr(c, "dtype") else np.result_type(c)
    if c_dtype != dtype:
        c = c.astype(dtype) if type(c) in _TRACED else np.asarray(c, dtype)
    return c


def _real_for(c, dtype):
    """`c` for a node of `dtype`: its real part where the node is real (the
    cotangent or tangent of a real value is real, as in autograd and JAX)."""
    if dtype.kind != "c" and np.result_type(c.dtype if hasattr(c, "dtype") else c).kind == "c":
        return elementwise.real(c)
    return c


class _Store:
    """The adjoints (or tangents) of a sweep's nodes [start, end): scalar
    float64 nodes in the C handles the recording sweeps of
    csrc/fastad_record.c read and write, array nodes in a dict."""

    def __init__(self, tape, start, end):
        self.tape = tape
        self.scalars = _tape.SweepHandles(tape, start, end)
        self.arrays = {}

    def get(self, node):
        value = self.scalars.get(node)
        return self.arrays.get(node) if value is None else value

    def pop(self, node):
        value = self.scalars.get(node)
        return self.arrays.pop(node, None) if value is None else value

    def put(self, node, value, scalar):
        """Hold `value` for `node` (`scalar`: a node boxed as a traced
        Scalar); False where a scalar node's value is not one the C handles
        hold (kept in the dict: C sweeps must not run)."""
        if scalar and self.scalars.start <= node < self.scalars.end:
            if type(value) is Array and value.shape == () and value.dtype == _FLOAT64:
                value = value[()]
            if type(value) is Scalar and value.tape is self.tape or _tape.holds_plain(value):
                self.scalars.set(node, value)
                return True
            self.scalars.set(node, None)
            self.arrays[node] = value
            return False
        self.arrays[node] = value
        return True


# the scalar opcodes whose rules sweeps.py applies itself: a traced
# exponent's rule selects with `where` (array nodes and element reads are
# handled here too)
_PYTHON_OPCODES = frozenset((EXT, ELEM, _tape.OPCODES["power"]))


def reverse(tape, start, seeds, inputs, constant_primals=False, end=None):
    """Recorded reverse sweep over nodes [start, end) (end: len(tape)).

    `seeds`: (traced output, cotangent) pairs, cotangents plain or traced;
    `inputs`: the nodes whose adjoints to return.  Returns one adjoint per
    input: a traced value, a plain number or array, or None (no path).
    `constant_primals`: the rules read the tape's values as constants (a
    finished tape swept with cotangents traced on another): the result is
    linear in the cotangents, as the VJP is.  Otherwise the runs of scalar
    nodes are recorded by C (SweepHandles.reverse), the same nodes the rules
    would record."""
    end = len(tape) if end is None else end
    adjoint = _Store(tape, start, end)
    box = (lambda node: tape.box(node).value) if constant_primals else tape.box

    def accumulate(node, c):
        if c is None or node < start:
            return
        shape, dtype, scalar = _node_kind(tape, node)
        if not (scalar and (type(c) is float or type(c) is Scalar)):  # (else as it is)
            c = unbroadcast(c, shape, dtype)
        previous = adjoint.get(node)
        if not adjoint.put(node, c if previous is None else previous + c, scalar):
            use_c[0] = False

    # element reads x[i] (ELEM nodes): the adjoints of an array's elements,
    # gathered into one array operation when the sweep reaches the array
    elements = {}
    use_c = [not constant_primals]

    for output, cotangent in seeds:
        accumulate(output.node, cotangent)
    rules = _rules()
    wanted = set(inputs)
    i = end - 1
    while i >= start:
        if i in elements:
            accumulate(i, _gather_elements(tape, i, elements.pop(i)))
        opcode, a, b, _ = tape.raw(i)
        if use_c[0] and (opcode == ELEM or opcode not in _PYTHON_OPCODES):
            i = adjoint.scalars.reverse_reads(i + 1, elements, wanted)
            continue
        g = adjoint.get(i) if i in wanted else adjoint.pop(i)
        i -= 1
        if g is None:
            continue
        node = i + 1
        if opcode == LEAF or _tape.FIRST_COMPARISON <= opcode <= _tape.LAST_COMPARISON:
            continue
        if opcode == ELEM:
            source = tape.source(a)[0]
            if source >= start:
                elements.setdefault(source, []).append((b, g))
            continue
        if opcode == EXT:
            _reverse_ext(tape, node, g, accumulate, constant_primals)
            continue
        ans = box(node)
        if opcode in _CONST_OPS:
            binary, constant_first = _CONST_OPS[opcode]
            c = tape.constant(b)
            x = box(a)
            if constant_first:
                accumulate(a, rules[binary][1](g, ans, c, x))
            else:
                accumulate(a, rules[binary][0](g, ans, x, c))
        elif opcode in rules and _tape.FIRST_BINARY <= opcode <= _tape.LAST_BINARY:
            x, y = box(a), box(b)
            rule_x, rule_y = rules[opcode]
            accumulate(a, rule_x(g, ans, x, y))
            accumulate(b, rule_y(g, ans, x, y))
        elif opcode in rules:
            accumulate(a, rules[opcode][0](g, ans, box(a)))
        # else: sign, piecewise constant: no derivative
    # the reads of arrays the sweep passed in C (array leaves)
    for node, reads in sorted(elements.items(), reverse=True):
        accumulate(node, _gather_elements(tape, node, reads))
    return [adjoint.get(node) for node in inputs]


def _gather_elements(tape, node, reads):
    """The adjoint of array `node` from its element reads' adjoints
    [(flat index, adjoint), ...]: one scatter-add of them all."""
    shape, dtype, _ = _node_kind(tape, node)
    size = int(np.prod(shape))
    flat = np.array([index for index, _ in reads], dtype=np.intp)
    values = stack([g for _, g in reads])
    return reshape(untake(values, flat, (size,), dtype), shape)


def _reverse_ext(tape, node, g, accumulate, constant_primals=False):
    ext = tape.ext(node)
    prim = ext.primitive
    if prim is None:
        return
    args = list(ext.args)
    for position, parent in ext.parents:
        args[position] = tape.box_with(parent, args[position])
        if constant_primals:
            args[position] = args[position].value
    ans = tape.box(node).value if constant_primals else tape.box(node)
    kwargs = ext.kwargs or {}
    for position, parent in ext.parents:
        rule = prim.vjp_rule(position)
        accumulate(parent, rule(g, ans, *args, **kwargs))


def _jvp_rules():
    return {p.opcode: p.jvps for p in REGISTRY.values()
            if p.opcode >= 0 and p.jvps is not None}


_JVP_RULES = None


def forward(tape, start, seeds, outputs, end=None):
    """Recorded forward (tangent) sweep over nodes [start, end) (end:
    len(tape)).  A caller sweeping several times passes the end of its
    function's range: the nodes an earlier sweep recorded lie after it, and
    a later sweep must not differentiate them (tangents of tangents: the
    tape would grow exponentially in the number of sweeps).

    `seeds`: (traced input, tangent) pairs; returns the tangents of
    `outputs` (traced, plain, or None where no seeded input reaches).  The
    runs of scalar nodes are recorded by C (SweepHandles.tangent)."""
    global _JVP_RULES
    if _JVP_RULES is None:
        _JVP_RULES = _jvp_rules()
    rules = _JVP_RULES
    end = len(tape) if end is None else end
    tangent = _Store(tape, start, end)
    use_c = True
    for x, t in seeds:
        use_c = tangent.put(x.node, t, _node_kind(tape, x.node)[2]) and start <= x.node and use_c
    i = start
    while i < end:
        opcode, a, b, _ = tape.raw(i)
        if use_c and opcode not in _PYTHON_OPCODES:
            i = tangent.scalars.tangent(i)
            continue
        i += 1
        t = _tangent_of(tape, i - 1, opcode, a, b, tangent, rules)
        if t is not None:
            shape, dtype, scalar = _node_kind(tape, i - 1)
            use_c = tangent.put(i - 1, _fit(t, shape, dtype), scalar) and use_c
    return [tangent.get(y.node) for y in outputs]


def _tangent_of(tape, i, opcode, a, b, tangent, rules):
    """The tangent of node i by the rules (None where none reaches)."""
    if opcode == LEAF or _tape.FIRST_COMPARISON <= opcode <= _tape.LAST_COMPARISON:
        return None
    if opcode == EXT:
        return _forward_ext(tape, i, tangent)
    if opcode == ELEM:
        node, shape = tape.source(a)
        t = tangent.get(node)
        return None if t is None else fnp_getitem(t, np.unravel_index(b, shape))
    if opcode in _CONST_OPS:
        ta = tangent.get(a)
        if ta is None:
            return None
        binary, constant_first = _CONST_OPS[opcode]
        c, x, ans = tape.constant(b), tape.box(a), tape.box(i)
        return (rules[binary][1](ta, ans, c, x) if constant_first
                else rules[binary][0](ta, ans, x, c))
    if _tape.FIRST_BINARY <= opcode <= _tape.LAST_BINARY:
        ta, tb = tangent.get(a), tangent.get(b)
        if ta is None and tb is None:
            return None
        x, y, ans = tape.box(a), tape.box(b), tape.box(i)
        rule_x, rule_y = rules[opcode]
        t = None
        if ta is not None:
            t = rule_x(ta, ans, x, y)
        if tb is not None:
            tb = rule_y(tb, ans, x, y)
            t = tb if t is None else t + tb
        return t
    if opcode in rules:
        ta = tangent.get(a)
        return None if ta is None else rules[opcode][0](ta, tape.box(i), tape.box(a))
    return None  # sign: no derivative


def _forward_joined(name, ext, tangent):
    """The tangent of stack or concatenate as one operation on the
    arguments' tangents (zeros where none reaches): one term per argument
    would be quadratic in the arguments."""
    found = {position: tangent.get(parent) for position, parent in ext.parents}
    if all(t is None for t in found.values()):
        return None
    parts = [found.get(position) if found.get(position) is not None
             else np.zeros(np.shape(ext.args[position]), ext.dtype)
             for position in range(1, len(ext.args))]
    return (stack if name == "stack" else concatenate)(parts, axis=ext.args[0])


def fnp_getitem(t, index):
    """t[index] for a traced or plain tangent (an element as a scalar)."""
    index = tuple(int(i) for i in index)
    return t[index] if type(t) in _TRACED else np.asarray(t)[index]


def _fit(t, shape, dtype):
    """A tangent given the exact shape and dtype of its node."""
    if np.shape(t) != shape:
        t = broadcast_to(t, shape) if shape != () else reductions.sum(t)
    t = _real_for(t, dtype)
    if shape == ():
        return t
    t_dtype = t.dtype if hasattr(t, "dtype") else np.result_type(t)
    if t_dtype != dtype:
        t = t.astype(dtype) if type(t) in _TRACED else np.asarray(t, dtype)
    return t


def _forward_ext(tape, node, tangent):
    ext = tape.ext(node)
    prim = ext.primitive
    if prim is None:
        return None
    args = list(ext.args)
    for position, parent in ext.parents:
        args[position] = tape.box_with(parent, args[position])
    ans = tape.box(node)
    kwargs = ext.kwargs or {}
    if prim.name in ("stack", "concatenate") and args[0] is not None:
        return _forward_joined(prim.name, ext, tangent)
    total = None
    for position, parent in ext.parents:
        t = tangent.get(parent)
        if t is None:
            continue
        if position < len(prim.jvps):
            contribution = prim.jvps[position](t, ans, *args, **kwargs)
        else:
            contribution = prim.jvp_variadic(position, t, ans, *args, **kwargs)
        total = contribution if total is None else total + contribution
    return total
