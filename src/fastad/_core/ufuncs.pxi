# fastad.numpy's elementwise functions and the opcode tables (included by
# _tape.pyx).
#
# negative, exp, add, maximum ... are compiled here, not written in
# ops/elementwise.py, so that a traced scalar reaches its C kernel with no
# Python frame in between: each calls the kernel for a traced scalar and
# otherwise the Primitive that ops/elementwise.py registered for its opcode
# (plain NumPy for untraced input, an FA_EXT node for traced arrays).  The
# opcode tables (OPCODES, OPCODE_NAMES, CONST_OPCODES ...) tell the Python
# layer which scalar opcodes exist.

cdef list _unary_primitives = [None] * FA_N_OPCODES
cdef list _binary_primitives = [None] * FA_N_OPCODES


def register_scalar_opcode(int opcode, Primitive primitive):
    """Route the fast function of `opcode` to `primitive` for non-scalar input."""
    if FA_NEG <= opcode < FA_N_OPCODES:
        _unary_primitives[opcode] = primitive
    else:
        _binary_primitives[opcode] = primitive


FIRST_COMPARISON, LAST_COMPARISON = FA_LT, FA_NE
ELEM_OPCODE = FA_ELEM
CONST_OPCODE_ADD, CONST_OPCODE_POW = FA_ADDC, FA_POWC
FIRST_BINARY, LAST_BINARY = FA_ADD, FA_HYPOT
#: opcode with a constant operand -> (its binary opcode, constant comes first)
CONST_OPCODES = {
    FA_ADDC: (FA_ADD, False), FA_RSUBC: (FA_SUB, True), FA_MULC: (FA_MUL, False),
    FA_DIVC: (FA_DIV, False), FA_RDIVC: (FA_DIV, True), FA_POWC: (FA_POW, False),
    FA_RPOWC: (FA_POW, True),
}

OPCODE_NAMES = {
    FA_LEAF: "input", FA_EXT: "ext", FA_ELEM: "getitem", FA_LT: "lt", FA_LE: "le", FA_GT: "gt",
    FA_GE: "ge", FA_EQ: "eq", FA_NE: "ne", FA_ADD: "add", FA_SUB: "subtract",
    FA_MUL: "multiply", FA_DIV: "true_divide", FA_POW: "power",
    FA_MAXIMUM: "maximum", FA_MINIMUM: "minimum", FA_ATAN2: "arctan2",
    FA_HYPOT: "hypot", FA_ADDC: "add", FA_RSUBC: "subtract", FA_MULC: "multiply",
    FA_DIVC: "true_divide", FA_RDIVC: "true_divide", FA_POWC: "power",
    FA_RPOWC: "power",
}

OPCODES = {
    "neg": FA_NEG, "abs": FA_ABS, "sign": FA_SIGN, "square": FA_SQUARE,
    "sqrt": FA_SQRT, "cbrt": FA_CBRT, "reciprocal": FA_RECIPROCAL,
    "exp": FA_EXP, "exp2": FA_EXP2, "expm1": FA_EXPM1, "log": FA_LOG,
    "log1p": FA_LOG1P, "log2": FA_LOG2, "log10": FA_LOG10, "sin": FA_SIN,
    "cos": FA_COS, "tan": FA_TAN, "arcsin": FA_ASIN, "arccos": FA_ACOS,
    "arctan": FA_ATAN, "sinh": FA_SINH, "cosh": FA_COSH, "tanh": FA_TANH,
    "arcsinh": FA_ASINH, "arccosh": FA_ACOSH, "arctanh": FA_ATANH,
    "add": FA_ADD, "subtract": FA_SUB, "multiply": FA_MUL,
    "true_divide": FA_DIV, "power": FA_POW, "maximum": FA_MAXIMUM,
    "minimum": FA_MINIMUM, "arctan2": FA_ATAN2, "hypot": FA_HYPOT,
}


for _name, _code in OPCODES.items():
    if _code >= FA_NEG:
        OPCODE_NAMES[_code] = _name


cdef inline object _unary_fast(int opcode, object x):
    if type(x) is Scalar:
        return _unary(opcode, <Scalar>x)
    cdef Primitive prim = <Primitive>_unary_primitives[opcode]
    if type(x) is Array:
        return _record_elementwise(prim, <Array>x, None, None)
    return prim.fun(x)  # plain input: NumPy itself, no dispatch


def negative(x): return _unary_fast(FA_NEG, x)
def absolute(x):
    if type(x) is Scalar:
        return _scalar_abs(<Scalar>x)
    return _unary_fast(FA_ABS, x)


cdef object _scalar_abs(Scalar x):
    if x.tape.kink_guards:
        _scalar_branch(x, 0.0, "abs")
    return _unary(FA_ABS, x)


cdef _scalar_branch(object x, object y, str what):
    """Record where traced scalar x stands against y (above, below or
    equal: two comparisons) as the branch of `what`, for replay to check."""
    cdef Scalar traced = <Scalar>(x if type(x) is Scalar else y)
    cdef object other = y if type(x) is Scalar else x
    cdef int above = FA_GT if type(x) is Scalar else FA_LT
    cdef int below = FA_LT if type(x) is Scalar else FA_GT
    cdef Tape tape = traced.tape
    cdef str label = " (the branch of %s)" % what
    _compare(above, traced, other)
    tape.guard_sources[tape.c.size - 1] += label
    _compare(below, traced, other)
    tape.guard_sources[tape.c.size - 1] += label


cdef inline object _extremum(int opcode, str what, object x, object y):
    # two traced scalars, or one and a number: a scalar result, whose
    # branch is recorded here (arrays record theirs with their primitive)
    if ((type(x) is Scalar and (<Scalar>x).tape.kink_guards
         or type(y) is Scalar and (<Scalar>y).tape.kink_guards)
            and (type(x) is Scalar or _is_real_number(x))
            and (type(y) is Scalar or _is_real_number(y))):
        _scalar_branch(x, y, what)
    return _binary_fast(opcode, x, y)
def sign(x): return _unary_fast(FA_SIGN, x)
def square(x): return _unary_fast(FA_SQUARE, x)
def sqrt(x): return _unary_fast(FA_SQRT, x)
def cbrt(x): return _unary_fast(FA_CBRT, x)
def reciprocal(x): return _unary_fast(FA_RECIPROCAL, x)
def exp(x): return _unary_fast(FA_EXP, x)
def exp2(x): return _unary_fast(FA_EXP2, x)
def expm1(x): return _unary_fast(FA_EXPM1, x)
def log(x): return _unary_fast(FA_LOG, x)
def log1p(x): return _unary_fast(FA_LOG1P, x)
def log2(x): return _unary_fast(FA_LOG2, x)
def log10(x): return _unary_fast(FA_LOG10, x)
def sin(x): return _unary_fast(FA_SIN, x)
def cos(x): return _unary_fast(FA_COS, x)
def tan(x): return _unary_fast(FA_TAN, x)
def arcsin(x): return _unary_fast(FA_ASIN, x)
def arccos(x): return _unary_fast(FA_ACOS, x)
def arctan(x): return _unary_fast(FA_ATAN, x)
def sinh(x): return _unary_fast(FA_SINH, x)
def cosh(x): return _unary_fast(FA_COSH, x)
def tanh(x):
    """Elementwise hyperbolic tangent, as numpy.tanh (also fastad.nn.tanh);
    derivative 1 - tanh(x) ** 2.

    >>> np.tanh(np.array([0.0, 1000.0]))
    array([0., 1.])
    >>> fastad.grad(np.tanh)(0.0)
    1.0
    """
    return _unary_fast(FA_TANH, x)
def arcsinh(x): return _unary_fast(FA_ASINH, x)
def arccosh(x): return _unary_fast(FA_ACOSH, x)
def arctanh(x): return _unary_fast(FA_ATANH, x)


cdef inline object _scalar_with_constant(int opcode, Scalar x, double c, bint reflected):
    """`opcode` applied to (x, c), or to (c, x) when `reflected`."""
    if opcode == FA_ADD:
        return _with_constant(FA_ADDC, x, c)
    if opcode == FA_MUL:
        return _with_constant(FA_MULC, x, c)
    if opcode == FA_SUB:
        return _with_constant(FA_RSUBC, x, c) if reflected else _with_constant(FA_ADDC, x, -c)
    if opcode == FA_DIV:
        return _with_constant(FA_RDIVC if reflected else FA_DIVC, x, c)
    if opcode == FA_POW:
        if c == 2.0 and not reflected:
            # x ** 2 as x * x (what NumPy does for arrays): one correctly
            # rounded multiplication instead of two calls of pow
            return _unary(FA_SQUARE, x)
        return _with_constant(FA_RPOWC if reflected else FA_POWC, x, c)
    cdef Scalar leaf = x.tape.scalar_leaf(c)
    return _binary(opcode, leaf, x) if reflected else _binary(opcode, x, leaf)


# NumPy 1.x holds a Python int beyond int64 and uint64 as an object array, so
# an operation of a float array with one gives an object array (of the values
# the int's float gives), which the tape cannot carry; NumPy 2 converts the int
# to the array's float dtype (NEP 50).  With a traced array, such an int is
# its float on 1.x too: NumPy 2's values, and the derivative.
cdef bint _NUMPY_BIG_INTS_ARE_OBJECTS = int(np.__version__.split(".")[0]) < 2
cdef object _INT64_MIN = -2 ** 63
cdef object _UINT64_END = 2 ** 64


cdef object _float_if_beyond_int64(object c):
    return c if _INT64_MIN <= c < _UINT64_END else float(c)


cdef inline object _binary_fast(int opcode, object x, object y):
    if type(x) is Scalar:
        if type(y) is Scalar:
            return _binary(opcode, <Scalar>x, <Scalar>y)
        if _is_real_number(y):
            return _scalar_with_constant(opcode, <Scalar>x, float(y), False)
    elif type(y) is Scalar and _is_real_number(x):
        return _scalar_with_constant(opcode, <Scalar>y, float(x), True)
    cdef Primitive prim = <Primitive>_binary_primitives[opcode]
    if type(x) is Array:
        if _NUMPY_BIG_INTS_ARE_OBJECTS and PyLong_CheckExact(y):
            y = _float_if_beyond_int64(y)
        if type(y) is Array or PyFloat_CheckExact(y):
            return _record_elementwise(prim, <Array>x, y, None)
    elif type(y) is Array:
        if _NUMPY_BIG_INTS_ARE_OBJECTS and PyLong_CheckExact(x):
            x = _float_if_beyond_int64(x)
        if PyFloat_CheckExact(x):
            return _record_elementwise(prim, <Array>y, None, x)
    if (opcode == FA_POW and type(x) is Array and PyLong_CheckExact(y) and y == 2
            and _fusable(<Array>x)):
        fused = _try_fuse(prim, <Array>x, 2.0, None)
        if fused is not None:
            return fused
    if type(x) is Array and type(y) is _ndarray and _fusable(<Array>x):
        fused = _try_fuse(prim, <Array>x, y, None)  # (with a constant array)
        if fused is not None:
            return fused
    elif type(y) is Array and type(x) is _ndarray and _fusable(<Array>y):
        fused = _try_fuse(prim, <Array>y, None, x)
        if fused is not None:
            return fused
    if type(x) is Array or type(y) is Array or type(x) is Scalar or type(y) is Scalar:
        return _record(prim, (x, y), {})
    return prim.fun(x, y)  # plain inputs: NumPy itself, no dispatch


def add(x, y):
    """Elementwise x + y with broadcasting, as numpy.add (also fastad.nn.add).

    >>> np.add(np.array([1.0, 2.0]), 3.0)
    array([4., 5.])
    >>> fastad.grad(np.add, argnums=(0, 1))(1.0, 2.0)
    (1.0, 1.0)
    """
    return _binary_fast(FA_ADD, x, y)
def subtract(x, y): return _binary_fast(FA_SUB, x, y)
def multiply(x, y): return _binary_fast(FA_MUL, x, y)
def true_divide(x, y): return _binary_fast(FA_DIV, x, y)
def power(x, y): return _binary_fast(FA_POW, x, y)
def maximum(x, y): return _extremum(FA_MAXIMUM, "maximum", x, y)
def minimum(x, y): return _extremum(FA_MINIMUM, "minimum", x, y)
def arctan2(x, y): return _binary_fast(FA_ATAN2, x, y)
def hypot(x, y): return _binary_fast(FA_HYPOT, x, y)
