"""The op table: every differentiable primitive of fastad, one entry each.

Each family module declares its primitives with `defprim`: the NumPy
implementation, one VJP rule per positional argument and one JVP rule per
positional argument.  Rules take `(g, ans, *args, **kwargs)`: the cotangent
(VJP) or tangent (JVP) `g`, the primal output `ans` and the primal inputs.
They are written with fastad's own functions, so that on plain arrays they
compute numbers and on traced values they record (and can be differentiated
again).  Scalar opcodes also have a C kernel in csrc/fastad_scalar.c, keyed by
the same opcode.
"""
from .. import _tape

#: name -> Primitive, for every registered primitive (the compiled core's
#: table, by which pickled tapes name their primitives)
REGISTRY = _tape.REGISTRY


def defprim(name, fun, vjps=None, jvps=None, *, vjp_variadic=None,
            jvp_variadic=None, scalar_opcode=None, elementwise=False, saves=None):
    """Register the primitive `name` and return it.

    `vjps`/`jvps`: one rule per positional argument (None for an argument
    with no derivative, such as an axis); `vjps=None` declares the whole
    function non-differentiable (its output is returned as a plain value).
    `scalar_opcode`: the C opcode the fast fastad.numpy function uses on a
    traced scalar; the primitive then serves every other input.
    `elementwise`: the rules broadcast, so they accept a cotangent of any
    shape that broadcasts to the output (see Primitive).
    `saves`: per argument, the argument indices (and -1 for the output) its
    VJP rule reads, so that the tape keeps nothing else (see Primitive).
    """
    if name in REGISTRY:
        raise ValueError("primitive %r is registered twice" % name)
    opcode = _tape.OPCODES[scalar_opcode] if scalar_opcode else -1
    prim = _tape.Primitive(name, fun, vjps, jvps, vjp_variadic, jvp_variadic, opcode,
                          elementwise, saves)
    prim.fresh_results = True  # (see Primitive.fresh_results: true of the op table's rules)
    if scalar_opcode:
        _tape.register_scalar_opcode(opcode, prim)
    REGISTRY[name] = prim
    return prim
