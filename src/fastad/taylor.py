"""Taylor coefficients by propagating truncated polynomials forward.

`taylor(fun, x, v, order)` returns the coefficients c_k = f^(k)(x; v) / k!
of t -> fun(x + t v) for k = 0..order.  The function is recorded once; then
every node's series is computed from its operands' in one forward sweep:
scalar nodes by the C recurrences of csrc/fastad_taylor.c, elementwise
array operations by the same recurrences applied per element, linear
operations (reshape, sum, indexing, ...) coefficient by coefficient, and
products (dot, matmul, ...) by convolution of the operands' series.
"""
import numpy as np

from . import _tape
from .core import _Recording, _dtype_of
from .ops import REGISTRY
from .tree import flatten, unflatten

_OPS = _tape.OPCODES


def taylor(fun, x, v, order):
    """Taylor coefficients of `t -> fun(x + t v)` at t = 0, orders 0..order:
    a list of `order + 1` values with fun's output structure.  The lectures'
    k-th multivariate Taylor term `D^k f(x) v^k` is `k! * coefficient k`.

    >>> fastad.taylor(fastad.numpy.exp, 0.0, 1.0, 3)
    [1.0, 1.0, 0.5, 0.16666666666666666]
    """
    if not isinstance(order, (int, np.integer)) or order < 0:
        raise ValueError("taylor: order must be a non-negative integer, got %r" % (order,))
    x_leaves, x_treedef = flatten(x)
    v_leaves, v_treedef = flatten(v)
    if x_treedef != v_treedef:
        raise ValueError("taylor: x has structure %r but v has %r" % (x_treedef, v_treedef))
    for i, (a, b) in enumerate(zip(x_leaves, v_leaves)):
        if np.shape(a) != np.shape(b):
            raise ValueError("taylor: direction %d has shape %s but x has shape %s"
                             % (i, np.shape(b), np.shape(a)))
    rec = _Recording(fun, (x,), {}, (0,), "taylor", keep_all=True)
    if rec.nested:
        raise NotImplementedError("taylor inside another fastad operator is not supported")
    seeds = []
    for box, leaf, direction in zip(rec.flat_inputs, x_leaves, v_leaves):
        series = np.zeros((order + 1,) + np.shape(leaf), np.float64)
        series[0] = leaf
        if order >= 1:
            series[1] = direction
        seeds.append((box, series))
    out_leaves, out_treedef = flatten(rec.output)
    traced = [o for o in out_leaves if type(o) in (_tape.Scalar, _tape.Array)]
    found = rec.tape.taylor(rec.start, seeds, traced, order, _ext_series) if traced else []
    by_id = dict(zip(map(id, traced), found))
    coefficients = [[] for _ in range(order + 1)]
    for o in out_leaves:
        series = by_id.get(id(o))
        value = rec.result(o)
        for k in range(order + 1):
            if k == 0:
                coefficients[k].append(value)
            elif series is None:
                coefficients[k].append(np.zeros(np.shape(o), _dtype_of(o)) if np.ndim(o) else 0.0)
            elif np.ndim(o) == 0 and not isinstance(value, np.ndarray):
                coefficients[k].append(type(value)(series[k]) if isinstance(value, float)
                                       else float(series[k]))
            else:
                coefficients[k].append(np.asarray(series[k], _dtype_of(o)))
    return [unflatten(out_treedef, c) for c in coefficients]


def _constant_series(value, d):
    series = np.zeros((d + 1,) + np.shape(value))
    series[0] = value
    return series


def _ext_series(ext, parents, d):
    """The series of one array/generic operation from its traced parents'."""
    prim = ext.primitive
    args = ext.args
    kwargs = ext.kwargs or {}
    rule = getattr(prim, "taylor_rule", None)
    if rule is not None:
        out = rule(parents, d, ext.value, *args, **kwargs)
    elif prim.opcode == _OPS["power"] and 1 not in parents and np.ndim(args[1]) == 0:
        # a constant exponent: x ** c has a rule of its own, valid for x < 0
        out = _tape.series_unary(_tape.CONST_OPCODE_POW, parents[0], float(args[1]))
    elif prim.opcode >= 0:
        series = [parents.get(i) if i in parents else _constant_series(a, d)
                  for i, a in enumerate(args)]
        if len(series) == 1:
            out = _tape.series_unary(prim.opcode, series[0])
        else:
            out = _tape.series_binary(prim.opcode, series[0], series[1])
    elif getattr(prim, "linear", False):
        out = np.zeros((d + 1,) + ext.shape)
        for k in range(1, d + 1):
            for position, s in parents.items():
                rule = prim.jvps[position] if position < len(prim.jvps) else None
                if rule is None:
                    contribution = prim.jvp_variadic(position, s[k], ext.value, *args, **kwargs)
                else:
                    contribution = rule(s[k], ext.value, *args, **kwargs)
                out[k] += contribution
    elif getattr(prim, "bilinear", False):
        a_series = parents.get(0, _constant_series(args[0], d))
        b_series = parents.get(1, _constant_series(args[1], d))
        out = np.zeros((d + 1,) + ext.shape)
        for k in range(1, d + 1):
            for j in range(k + 1):
                # a constant operand's higher coefficients are zero
                if (j == 0 or 0 in parents) and (k - j == 0 or 1 in parents):
                    out[k] += prim.fun(a_series[j], b_series[k - j], *args[2:], **kwargs)
    else:
        raise NotImplementedError(
            "taylor: %s has no Taylor rule yet; differentiate with grad/jvp, or "
            "nest deriv for a few orders" % prim.name)
    out = np.asarray(out, np.float64)
    out[0] = ext.value
    return out


# -- which primitives are linear or bilinear, and the special rules ----------

# linear, or linear where smooth (the JVP rule is exact for every coefficient)
for _name in ("reshape", "ravel", "squeeze", "expand_dims", "atleast_1d", "transpose",
              "swapaxes", "moveaxis", "broadcast_to", "astype", "getitem", "untake", "identity",
              "concatenate", "stack", "sum", "mean", "max", "min", "where", "mod", "fmod", "ldexp",
              "deg2rad", "rad2deg", "positive", "fabs", "fmax", "fmin", "nan_to_num", "cumsum"):
    REGISTRY[_name].linear = True
for _name in ("dot", "matmul", "tensordot", "inner", "outer", "vdot"):
    REGISTRY[_name].bilinear = True


def _expit_series(parents, d, ans, x):
    s = _tape.series_unary(_OPS["neg"], parents[0])
    s = _tape.series_unary(_OPS["exp"], s)
    s = _tape.series_unary(_tape.CONST_OPCODE_ADD, s, 1.0)
    return _tape.series_unary(_OPS["reciprocal"], s)


def _logsumexp_series(parents, d, ans, a, axis=None, keepdims=False):
    from .ops.axes import axis_tuple, expand_reduced
    shift = np.asarray(expand_reduced(ans, a, axis, keepdims))
    shifted = parents[0].copy()
    shifted[0] = shifted[0] - shift
    e = _tape.series_unary(_OPS["exp"], shifted)
    total = np.sum(e, axis=tuple(i + 1 for i in axis_tuple(axis, np.ndim(a))), keepdims=keepdims)
    return _tape.series_unary(_OPS["log"], total)


def _logaddexp_series(parents, d, ans, a, b, base=None):
    exp_op, log_op = (_OPS["exp"], _OPS["log"]) if base is None else (_OPS["exp2"], _OPS["log2"])
    terms = []
    shape = np.shape(ans)
    for i, x in enumerate((a, b)):
        s = parents[i] if i in parents else _constant_series(x, d)
        s = s.reshape((d + 1,) + (1,) * (len(shape) - (s.ndim - 1)) + s.shape[1:])
        s = np.array(np.broadcast_to(s, (d + 1,) + shape))
        s[0] = s[0] - ans  # shift by the result: both exponentials stay <= 1
        terms.append(_tape.series_unary(exp_op, s))
    total = _tape.series_binary(_OPS["add"], terms[0], terms[1])
    return _tape.series_unary(log_op, total)


def _sinc_series(parents, d, ans, x):
    if np.any(np.asarray(x) == 0):
        raise NotImplementedError("taylor: sinc at 0 is not supported")
    px = parents[0] * np.pi
    return _tape.series_binary(_OPS["true_divide"], _tape.series_unary(_OPS["sin"], px), px)


REGISTRY["expit"].taylor_rule = _expit_series
REGISTRY["logaddexp"].taylor_rule = _logaddexp_series
REGISTRY["logaddexp2"].taylor_rule = lambda parents, d, ans, a, b: _logaddexp_series(
    parents, d, ans, a, b, base=2)
REGISTRY["sinc"].taylor_rule = _sinc_series
REGISTRY["logsumexp"].taylor_rule = _logsumexp_series
