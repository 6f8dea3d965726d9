"""Elementwise functions: unary and binary ufuncs, where, clip.

Binary rules return cotangents in the broadcast shape of the output; the
sweep sums them back to each input's shape (broadcasting forward is a sum
backward), so no rule handles broadcasting itself.
"""
import math

import numpy as np

from .. import _tape
from . import defprim, numpy_versions
from .tracing import TRACED

LN2 = 0.6931471805599453
LN10 = 2.302585092994046

# The fastad.numpy functions: scalar fast path in C, these primitives otherwise.
negative, absolute, sign, square = _tape.negative, _tape.absolute, _tape.sign, _tape.square
sqrt, cbrt, reciprocal = _tape.sqrt, _tape.cbrt, _tape.reciprocal
exp, exp2, expm1 = _tape.exp, _tape.exp2, _tape.expm1
log, log1p, log2, log10 = _tape.log, _tape.log1p, _tape.log2, _tape.log10
sin, cos, tan = _tape.sin, _tape.cos, _tape.tan
arcsin, arccos, arctan = _tape.arcsin, _tape.arccos, _tape.arctan
sinh, cosh, tanh = _tape.sinh, _tape.cosh, _tape.tanh
arcsinh, arccosh, arctanh = _tape.arcsinh, _tape.arccosh, _tape.arctanh
add, subtract, multiply = _tape.add, _tape.subtract, _tape.multiply
true_divide, power = _tape.true_divide, _tape.power
maximum, minimum = _tape.maximum, _tape.minimum
arctan2, hypot = _tape.arctan2, _tape.hypot
divide = true_divide
abs = absolute


X, ANS, NOTHING = (0,), (-1,), ()


def ieee_divide(a, b):
    """a / b with NumPy's IEEE result at a pole.  The rules divide with it:
    on a scalar record (a traced float, or a 0-d array: g and ans are then
    Python floats) `/` raises ZeroDivisionError where the array path gives
    inf or nan.  (Python's `/` first: Python floats stay Python floats.)"""
    try:
        return a / b
    except ZeroDivisionError:
        return np.true_divide(a, b)


def unary(name, fun, rule, reads, opcode=None):
    """A unary elementwise primitive whose JVP is its VJP rule (both are
    multiplication by the same elementwise derivative); `reads` says whether
    the rule reads the input (X) or the output (ANS)."""
    return defprim(name, fun, vjps=[rule], jvps=[rule], scalar_opcode=opcode or name,
                   elementwise=True, saves=[reads])


def _branch(x, y):
    """Where x stands against y, elementwise: 1 above, -1 below, 0 equal (or
    NaN): the branch a piecewise function of x and y takes."""
    return np.subtract(np.greater(x, y), np.less(x, y), dtype=np.int8)


def kink(prim, decision):
    """Declare `decision` (a function of prim's arguments) the branch that
    recorded tapes guard for prim."""
    prim.kink = defprim("branch of " + prim.name, decision)
    return prim


unary("negative", np.negative, lambda g, ans, x: -g, NOTHING, "neg")
def is_complex(x):
    """Whether `x` (traced or not) holds complex numbers."""
    return isinstance(x, complex) or getattr(x, "dtype", _REAL).kind == "c"


_REAL = np.dtype(np.float64)


def _abs_vjp(g, ans, x):
    if is_complex(x):
        # conj(x) / |x| (autograd's and JAX's convention for complex inputs), 0 at 0
        return g * true_divide(conjugate(x), _where_zero(ans, 1.0, ans))
    return g * sign(x)


def _abs_jvp(t, ans, x):
    if is_complex(x):
        return true_divide(real(multiply(conjugate(x), t)), _where_zero(ans, 1.0, ans))
    return t * sign(x)


def _where_zero(x, value, otherwise):
    """`value` where the (plain or traced) real `x` is 0, else `otherwise`."""
    return where(equal(x, 0.0), value, otherwise)


kink(defprim("absolute", np.absolute, vjps=[_abs_vjp], jvps=[_abs_jvp], scalar_opcode="abs",
             elementwise=True, saves=[X + ANS]),
     lambda x: (x == 0) if np.iscomplexobj(x) else _branch(x, 0.0))
defprim("sign", np.sign, scalar_opcode="sign")          # piecewise constant: no derivative
unary("square", np.square, lambda g, ans, x: g * (2.0 * x), X)
unary("sqrt", np.sqrt, lambda g, ans, x: g * ieee_divide(0.5, ans), ANS)
unary("cbrt", np.cbrt, lambda g, ans, x: ieee_divide(g, 3.0 * ans * ans), ANS)
unary("reciprocal", np.reciprocal, lambda g, ans, x: -g * (ans * ans), ANS)
unary("exp", np.exp, lambda g, ans, x: g * ans, ANS)
unary("exp2", np.exp2, lambda g, ans, x: g * (ans * LN2), ANS)
unary("expm1", np.expm1, lambda g, ans, x: g * (ans + 1.0), ANS)
unary("log", np.log, lambda g, ans, x: ieee_divide(g, x), X)
unary("log1p", np.log1p, lambda g, ans, x: ieee_divide(g, 1.0 + x), X)
unary("log2", np.log2, lambda g, ans, x: ieee_divide(g, x * LN2), X)
unary("log10", np.log10, lambda g, ans, x: ieee_divide(g, x * LN10), X)
unary("sin", np.sin, lambda g, ans, x: g * cos(x), X)
unary("cos", np.cos, lambda g, ans, x: -g * sin(x), X)
unary("tan", np.tan, lambda g, ans, x: g * (1.0 + ans * ans), ANS)
# (1 - x)(1 + x) rather than 1 - x*x: no cancellation near x = +-1
unary("arcsin", np.arcsin, lambda g, ans, x: g / sqrt((1.0 - x) * (1.0 + x)), X)
unary("arccos", np.arccos, lambda g, ans, x: -g / sqrt((1.0 - x) * (1.0 + x)), X)
unary("arctan", np.arctan, lambda g, ans, x: g / (1.0 + x * x), X)
unary("sinh", np.sinh, lambda g, ans, x: g * cosh(x), X)
unary("cosh", np.cosh, lambda g, ans, x: g * sinh(x), X)
unary("tanh", np.tanh, lambda g, ans, x: g * (1.0 - ans * ans), ANS)
unary("arcsinh", np.arcsinh, lambda g, ans, x: g / sqrt(x * x + 1.0), X)
# (x - 1)(x + 1) rather than x*x - 1: no cancellation near x = 1
unary("arccosh", np.arccosh, lambda g, ans, x: g / sqrt((x - 1.0) * (x + 1.0)), X)
unary("arctanh", np.arctanh, lambda g, ans, x: ieee_divide(g, (1.0 - x) * (1.0 + x)), X)


def _pow_vjp_x(g, ans, x, y):
    """g * d(x ** y)/dx.  A constant exponent folds into the scalar factor
    first (one pass over x for y = 2); the derivative is zero where y == 0
    (constant in x) rather than 0 * inf."""
    if isinstance(y, (int, float)):
        if y == 2.0:
            return (g * 2.0) * x
        if y == 1.0:
            return g
        if y == 0.0:
            return g * 0.0
        return (g * y) * power(x, y - 1.0)
    return g * where(y == 0, 0.0, y * power(x, y - 1.0))


def _pow_vjp_y(g, ans, x, y):
    """g * d(x ** y)/dy = g log(x) x**y, zero where x == 0 (0 ** y constant)."""
    if isinstance(x, (int, float)):
        # (libm's log, as the scalar sweeps in C: NumPy's may round otherwise)
        return g * (0.0 if x == 0 else ans * (math.log(x) if x > 0 else np.log(x)))
    return g * where(x == 0, 0.0, ans * log(x))


def _balanced(x, ans, y):
    """Share of the adjoint routed to x by maximum/minimum: 1 where x is the
    result, 1/2 on ties, so maximum(x, x) has derivative 1 (autograd, JAX)."""
    return (x == ans) / (1.0 + (x == y))


def _extremum_vjp(g, ans, x, y):
    """g routed to x where x is the result of maximum/minimum(x, y)."""
    if type(g) is np.ndarray and type(x) is np.ndarray and not isinstance(y, TRACED):
        # numeric path (relu and the like): one comparison, ties only if any
        chosen = x == ans
        ties = x == y
        if ties.any():
            return g * (chosen / (1.0 + ties))
        return g * chosen
    return g * _balanced(x, ans, y)


def _extremum_vjp_y(g, ans, x, y):
    return _extremum_vjp(g, ans, y, x)


def _extremum(name, fun, opcode=None):
    """maximum, minimum, fmax, fmin: the adjoint (or tangent: the rule is a
    multiplication by the same share) goes to the operand equal to the
    result, split on ties.  fmax/fmin need nothing more: an operand that is
    NaN equals no result, so it gets nothing."""
    return kink(defprim(name, fun, saves=[(-1, 0, 1), (-1, 0, 1)],
                        vjps=[_extremum_vjp, _extremum_vjp_y],
                        jvps=[_extremum_vjp, _extremum_vjp_y],
                        scalar_opcode=opcode, elementwise=True), _branch)


defprim("add", np.add, saves=[NOTHING, NOTHING],
        vjps=[lambda g, ans, x, y: g, lambda g, ans, x, y: g],
        jvps=[lambda t, ans, x, y: t, lambda t, ans, x, y: t], scalar_opcode="add", elementwise=True)
defprim("subtract", np.subtract, saves=[NOTHING, NOTHING],
        vjps=[lambda g, ans, x, y: g, lambda g, ans, x, y: -g],
        jvps=[lambda t, ans, x, y: t, lambda t, ans, x, y: -t], scalar_opcode="subtract", elementwise=True)
defprim("multiply", np.multiply, saves=[(1,), (0,)],
        vjps=[lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x],
        jvps=[lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t], scalar_opcode="multiply", elementwise=True)
defprim("true_divide", np.true_divide, saves=[(1,), (-1, 1)],
        vjps=[lambda g, ans, x, y: ieee_divide(g, y),
              lambda g, ans, x, y: ieee_divide(-g * ans, y)],
        jvps=[lambda t, ans, x, y: ieee_divide(t, y),
              lambda t, ans, x, y: ieee_divide(-t * ans, y)],
        scalar_opcode="true_divide", elementwise=True)
defprim("power", np.power, saves=[(0, 1), (-1, 0)],
        vjps=[_pow_vjp_x, _pow_vjp_y], jvps=[_pow_vjp_x, _pow_vjp_y],
        scalar_opcode="power", elementwise=True)
_extremum("maximum", np.maximum, "maximum")
_extremum("minimum", np.minimum, "minimum")
defprim("arctan2", np.arctan2, saves=[(0, 1), (0, 1)],
        vjps=[lambda g, ans, x, y: ieee_divide(g * y, x * x + y * y),
              lambda g, ans, x, y: ieee_divide(-g * x, x * x + y * y)],
        jvps=[lambda t, ans, x, y: ieee_divide(t * y, x * x + y * y),
              lambda t, ans, x, y: ieee_divide(-t * x, x * x + y * y)], scalar_opcode="arctan2",
        elementwise=True)
defprim("hypot", np.hypot, saves=[(-1, 0), (-1, 1)],
        vjps=[lambda g, ans, x, y: ieee_divide(g * x, ans),
              lambda g, ans, x, y: ieee_divide(g * y, ans)],
        jvps=[lambda t, ans, x, y: ieee_divide(t * x, ans),
              lambda t, ans, x, y: ieee_divide(t * y, ans)],
        scalar_opcode="hypot", elementwise=True)

# Comparisons and logical functions: piecewise constant, no derivative.
less = defprim("less", np.less)
less_equal = defprim("less_equal", np.less_equal)
greater = defprim("greater", np.greater)
greater_equal = defprim("greater_equal", np.greater_equal)
equal = defprim("equal", np.equal)
not_equal = defprim("not_equal", np.not_equal)
logical_and = defprim("logical_and", np.logical_and)
logical_or = defprim("logical_or", np.logical_or)
logical_not = defprim("logical_not", np.logical_not)
isfinite = defprim("isfinite", np.isfinite)
isnan = defprim("isnan", np.isnan)
isinf = defprim("isinf", np.isinf)
floor = defprim("floor", np.floor)
ceil = defprim("ceil", np.ceil)
floor_divide = defprim("floor_divide", np.floor_divide)


def _where_vjp_x(g, ans, condition, x, y):
    return where(condition, g, 0.0)


def _where_vjp_y(g, ans, condition, x, y):
    return where(condition, 0.0, g)


where = defprim("where", np.where, vjps=[None, _where_vjp_x, _where_vjp_y],
                jvps=[None, _where_vjp_x, _where_vjp_y], elementwise=True,
                saves=[NOTHING, (0,), (0,)])

# mod: x - floor(x / y) * y, differentiable away from its jumps
mod = defprim("mod", np.mod,
              vjps=[lambda g, ans, x, y: g, lambda g, ans, x, y: -g * floor(true_divide(x, y))],
              jvps=[lambda t, ans, x, y: t, lambda t, ans, x, y: -t * floor(true_divide(x, y))],
              elementwise=True)
remainder = mod


def clip(a, a_min=None, a_max=None):
    """numpy.clip as maximum then minimum, which gives the derivative JAX
    gives: 1 strictly inside, 0 outside, 1/2 at a bound."""
    traced = type(a) in TRACED or type(a_min) in TRACED or type(a_max) in TRACED
    if not traced:
        return np.clip(a, a_min, a_max)
    out = a
    if a_min is not None:
        out = maximum(out, a_min)
    if a_max is not None:
        out = minimum(out, a_max)
    return out




# -- more elementwise functions ------------------------------------------------

def _exp_shift(x, ans):
    return exp(subtract(x, ans))


logaddexp = defprim(
    "logaddexp", np.logaddexp,
    vjps=[lambda g, ans, x, y: g * _exp_shift(x, ans), lambda g, ans, x, y: g * _exp_shift(y, ans)],
    jvps=[lambda t, ans, x, y: t * _exp_shift(x, ans), lambda t, ans, x, y: t * _exp_shift(y, ans)],
    elementwise=True, saves=[(-1, 0), (-1, 1)])
logaddexp2 = defprim(
    "logaddexp2", np.logaddexp2,
    vjps=[lambda g, ans, x, y: g * exp2(subtract(x, ans)), lambda g, ans, x, y: g * exp2(subtract(y, ans))],
    jvps=[lambda t, ans, x, y: t * exp2(subtract(x, ans)), lambda t, ans, x, y: t * exp2(subtract(y, ans))],
    elementwise=True, saves=[(-1, 0), (-1, 1)])


def _scale(name, fun, factor):
    """A linear elementwise function x -> factor * x."""
    rule = lambda g, ans, x: g * factor  # noqa: E731
    return defprim(name, fun, vjps=[rule], jvps=[rule], elementwise=True, saves=[NOTHING])


deg2rad = radians = _scale("deg2rad", np.deg2rad, np.pi / 180.0)
rad2deg = degrees = _scale("rad2deg", np.rad2deg, 180.0 / np.pi)
positive = _scale("positive", np.positive, 1.0)


def _power_operator(x, y):
    """x ** y of a traced array x on NumPy 1.x, whose `**` computes some
    constant exponents with another ufunc than numpy.power (square for 2,
    sqrt for 0.5, ...: numpy_versions.power_operator_ufunc)."""
    name = numpy_versions.power_operator_ufunc(y)
    if name is None:
        return power(x, y)
    return {"square": square, "sqrt": sqrt, "reciprocal": reciprocal, "positive": positive}[name](x)


#: NumPy's `x ** y` for a traced array x (Array.__pow__): numpy.power, but
#: for some constant exponents on NumPy 1.x
power_operator = _power_operator if numpy_versions.POWER_OPERATOR_UFUNCS else power


fabs = kink(defprim("fabs", np.fabs, vjps=[lambda g, ans, x: g * sign(x)],
                    jvps=[lambda t, ans, x: t * sign(x)], elementwise=True, saves=[X]),
            lambda x: _branch(x, 0.0))


fmax = _extremum("fmax", np.fmax)
fmin = _extremum("fmin", np.fmin)


def _sinc_derivative(x, ans):
    """d sinc(x)/dx = (cos(pi x) - sinc(x)) / x, and 0 at x = 0."""
    safe = where(x == 0, 1.0, x)
    return where(x == 0, 0.0, (cos(np.pi * x) - ans) / safe)


sinc = defprim("sinc", np.sinc, vjps=[lambda g, ans, x: g * _sinc_derivative(x, ans)],
               jvps=[lambda t, ans, x: t * _sinc_derivative(x, ans)], elementwise=True,
               saves=[(-1, 0)])

# nan_to_num: the identity where x is finite, constant elsewhere
nan_to_num = defprim(
    "nan_to_num", np.nan_to_num,
    vjps=[lambda g, ans, x, *args, **kwargs: g * isfinite(x)],
    jvps=[lambda t, ans, x, *args, **kwargs: t * isfinite(x)], elementwise=True, saves=[X])

# piecewise constant: results are plain arrays (zero derivative)
round_ = around = defprim("round", np.round)
rint = defprim("rint", np.rint)
trunc = defprim("trunc", np.trunc)
fix = defprim("fix", np.fix)


# fmod: x - trunc(x / y) * y (the sign of x), differentiable away from its jumps
fmod = defprim("fmod", np.fmod,
               vjps=[lambda g, ans, x, y: g, lambda g, ans, x, y: -g * trunc(true_divide(x, y))],
               jvps=[lambda t, ans, x, y: t, lambda t, ans, x, y: -t * trunc(true_divide(x, y))],
               elementwise=True)


def _sign_of(y):
    """+1 or -1 by the sign bit of y (plain: y's sign carries no derivative).
    The sign bit is the signbit primitive's, so that recorded tapes guard it."""
    return np.where(signbit(y), -1.0, 1.0)


def copysign(x1, x2):
    """numpy.copysign as |x1| times +-1 (exact), differentiable in x1."""
    if type(x1) not in TRACED and type(x2) not in TRACED:
        return np.copysign(x1, x2)
    if type(x1) not in TRACED:
        return np.copysign(x1, _sign_of(x2))  # (copysign reads only the sign bit)
    sign_ = _sign_of(x2)
    return multiply(absolute(x1), sign_ if np.ndim(sign_) else float(sign_))


def float_power(x1, x2):
    """numpy.float_power: power computed in float64."""
    if type(x1) not in TRACED and type(x2) not in TRACED:
        return np.float_power(x1, x2)
    return power(_float64(x1), _float64(x2))


def _float64(v):
    if type(v) is _tape.Scalar or (type(v) is _tape.Array and v.dtype == np.float64):
        return v
    return v.astype(np.float64) if type(v) in TRACED else np.asarray(v, np.float64)


def _ldexp_rule(g, ans, x, i):
    return g * np.ldexp(1.0, i)


# ldexp(x, i) = x * 2**i for integer i
ldexp = defprim("ldexp", np.ldexp, vjps=[_ldexp_rule, None], jvps=[_ldexp_rule, None],
                elementwise=True)

# piecewise constant or boolean: results are plain arrays (zero derivative)
heaviside = defprim("heaviside", np.heaviside)
signbit = defprim("signbit", np.signbit)
spacing = defprim("spacing", np.spacing)
logical_xor = defprim("logical_xor", np.logical_xor)


# Complex parts.  Rules follow autograd's and JAX's convention: a cotangent
# g of a real result gives its complex argument the cotangent (df/dx - i
# df/dy) g, and a holomorphic function's rule is g f'(z), not conjugated.
# Of a real value, the real part and the conjugate are the value itself and
# the imaginary part is zero.
def _as_complex_of(x, g):
    """The cotangent `g` of a real result, as its argument `x`'s."""
    return multiply(g, 1.0 + 0.0j) if is_complex(x) else g


_real = defprim("real", np.real, vjps=[lambda g, ans, x: _as_complex_of(x, g)],
                jvps=[lambda t, ans, x: real(t)], elementwise=True, saves=[X])
_imag = defprim("imag", np.imag, vjps=[lambda g, ans, x: multiply(g, -1.0j)],
                jvps=[lambda t, ans, x: imag(t)], elementwise=True, saves=[NOTHING])
_conjugate = defprim("conjugate", np.conjugate, vjps=[lambda g, ans, x: conjugate(g)],
                     jvps=[lambda t, ans, x: conjugate(t)], elementwise=True,
                     saves=[NOTHING])


def real(val):
    if type(val) in TRACED:
        return _real(val) if is_complex(val) else val
    return np.real(val)


def imag(val):
    if type(val) in TRACED:
        return _imag(val) if is_complex(val) else np.zeros(val.shape, val.dtype)
    return np.imag(val)


def conjugate(x):
    if type(x) in TRACED:
        return _conjugate(x) if is_complex(x) else x
    return np.conjugate(x)


conj = conjugate


def real_if_close(a, tol=100):
    return a if type(a) in TRACED else np.real_if_close(a, tol)


def _angle_vjp(g, ans, z):
    # d angle = Im(conj(z) dz) / |z|^2: the cotangent -i g conj(z) / |z|^2
    if not is_complex(z):
        return None  # piecewise constant (0 or pi) on the reals
    return multiply(g, true_divide(conjugate(multiply(z, 1.0j)), square(absolute(z))))


def _angle_jvp(t, ans, z):
    if not is_complex(z):
        return multiply(t, 0.0)
    return true_divide(imag(multiply(conjugate(z), t)), square(absolute(z)))


# (recomputed at replay: on the reals its 0 or pi follows the sign there)
_angle = defprim("angle", np.angle, vjps=[_angle_vjp], jvps=[_angle_jvp], elementwise=True,
                 saves=[X])


def angle(z, deg=False):
    """numpy.angle: the argument of complex z (in degrees with `deg`)."""
    out = _angle(z)
    return multiply(out, 180.0 / np.pi) if deg else out
