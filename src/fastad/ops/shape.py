"""Shape and indexing: reshape, transpose, broadcast, indexing, joining.
(NumPy's axis normalizers are here too, the lowest module that needs them:
an axis out of range is NumPy's AxisError, never wrapped around.)"""
import numpy as np

from .. import _tape
from . import defprim

try:
    from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple
except ImportError:  # pragma: no cover - NumPy 1.26
    from numpy.core.multiarray import normalize_axis_index
    from numpy.core.numeric import normalize_axis_tuple


def _linear(name, fun, rule):
    """A linear primitive of one array argument: its JVP is the function
    itself applied to the tangent."""
    return defprim(name, fun, vjps=[rule],
                   jvps=[lambda t, ans, x, *args, **kwargs: _PRIMS[name](t, *args, **kwargs)],
                   saves=[()])  # shapes only


_PRIMS = {}


def _inverse_permutation(axes, ndim):
    if axes is None:
        return None
    axes = normalize_axis_tuple(axes, ndim)
    return tuple(np.argsort(axes))


def _reshape_vjp(g, ans, x, *args, **kwargs):
    return reshape(g, np.shape(x))


reshape = _linear("reshape", np.reshape, _reshape_vjp)
ravel = _linear("ravel", np.ravel, _reshape_vjp)


def _reshape_batched(prim, order_at):
    """A batched tangent rule for reshape or ravel (their order argument at
    `order_at`): the k directions' tangents (t: (k,) + x's shape) reshaped
    at once, each direction's elements in C order as it alone would be."""
    def rule(t, ans, x, *args, **kwargs):
        order = kwargs.get("order", args[order_at] if len(args) > order_at else "C")
        if order != "C":
            return np.stack([np.asarray(prim(t[j], *args, **kwargs)) for j in range(len(t))])
        return np.reshape(t, (len(t),) + np.shape(ans))
    return rule


reshape.jvps_batched = (_reshape_batched(reshape, 1), None, None)
ravel.jvps_batched = (_reshape_batched(ravel, 0), None)
squeeze = _linear("squeeze", np.squeeze, _reshape_vjp)
expand_dims = _linear("expand_dims", np.expand_dims, _reshape_vjp)
atleast_1d_prim = _linear("atleast_1d", np.atleast_1d, _reshape_vjp)
transpose = _linear(
    "transpose", np.transpose,
    lambda g, ans, x, axes=None: transpose(g, _inverse_permutation(axes, np.ndim(x))))
swapaxes = _linear("swapaxes", np.swapaxes,
                   lambda g, ans, x, axis1, axis2: swapaxes(g, axis1, axis2))
moveaxis = _linear("moveaxis", np.moveaxis,
                   lambda g, ans, x, source, destination: moveaxis(g, destination, source))
# broadcast_to is the identity backward: the sweep sums the cotangent over
# the broadcast axes when it reaches the input.
broadcast_to = _linear("broadcast_to", np.broadcast_to, lambda g, ans, x, shape: g)
_astype_float = _linear("astype", lambda x, dtype: x.astype(dtype), lambda g, ans, x, dtype: g)
# a cast to integers or booleans is piecewise constant: a plain result, as in
# autograd and JAX (a primitive, so that recorded tapes guard it)
_astype_plain = defprim("astype to a non-float dtype",
                        lambda x, dtype: np.asarray(x).astype(dtype))


def astype(x, dtype, /, *, copy=True, device=None):
    """x.astype(dtype) (numpy.astype): a float dtype keeps the derivative,
    any other (int, bool) gives a plain array."""
    if type(x) is not _tape.Array and type(x) is not _tape.Scalar:
        return x.astype(dtype, copy=copy)
    if np.dtype(dtype).kind in "fc":
        return _astype_float(x, dtype)
    return _astype_plain(x, dtype)


for _name, _prim in [("reshape", reshape), ("ravel", ravel), ("squeeze", squeeze),
                     ("expand_dims", expand_dims), ("atleast_1d", atleast_1d_prim),
                     ("transpose", transpose), ("swapaxes", swapaxes),
                     ("moveaxis", moveaxis), ("broadcast_to", broadcast_to),
                     ("astype", _astype_float)]:
    _PRIMS[_name] = _prim


# -- indexing ---------------------------------------------------------------

def _getitem_fun(x, index):
    return x[index]


def _untake_fun(g, index, shape, dtype):
    """Scatter-add: zeros of `shape` with `g` added at `index` (repeated
    integer indices accumulate)."""
    out = np.zeros(shape, dtype)
    _scatter(out, index, g, _is_basic(index))
    return out


def _scatter(out, index, g, basic):
    """out[index] += g into zeros: an assignment where `index` is basic."""
    if basic:
        out[index] = g
    else:
        np.add.at(out, index, g)


def _is_basic(index):
    """Whether `index` selects without integer arrays (no repeats to add up)."""
    kind = type(index)
    if kind is slice or kind is int:
        return True
    items = index if kind is tuple else (index,)
    for i in items:
        if not (i is None or i is Ellipsis or isinstance(i, (int, np.integer, slice))):
            return False
    return True


getitem = defprim("getitem", _getitem_fun,
                  vjps=[lambda g, ans, x, index: untake(g, index, np.shape(x), _dtype(x)), None],
                  jvps=[lambda t, ans, x, index: getitem(t, index), None], saves=[()])
untake = defprim("untake", _untake_fun,
                 vjps=[lambda g, ans, x, index, shape, dtype: getitem(g, index)],
                 jvps=[lambda t, ans, x, index, shape, dtype: untake(t, index, shape, dtype)],
                 saves=[()])
_tape.register_getitem(getitem)


def _behind_directions(index):
    """`index` applied behind a leading axis of k directions."""
    return (slice(None),) + (index if type(index) is tuple else (index,))


def _getitem_batched(t, ans, x, index):
    """The tangents of k directions at once (t: (k,) + x.shape): the same
    index behind the direction axis, one indexing instead of k."""
    return t[_behind_directions(index)]


getitem.jvps_batched = (_getitem_batched, None)


def _untake_batched(t, ans, g, index, shape, dtype):
    """untake's tangents of k directions at once (t: (k,) + g's shape) into
    one array: one assignment behind the direction axis where `index` is
    basic, else a scatter-add per direction as each alone would be (NumPy's
    scatter-add behind a sliced axis is several times slower than k)."""
    out = np.zeros((len(t),) + tuple(shape), dtype)
    if _is_basic(index):
        out[_behind_directions(index)] = t
        return out
    for j in range(len(t)):
        _scatter(out[j, ...], index, t[j], False)  # (a view, 0-d ones too)
    return out


untake.jvps_batched = (_untake_batched, None, None, None)

# A copy-free identity: a nested operator's fresh input node for a traced array.
identity = defprim("identity", lambda x: x, vjps=[lambda g, ans, x: g],
                   jvps=[lambda t, ans, x: t], elementwise=True, saves=[()])
_tape.register_identity(identity)


def _dtype(x):
    return x.dtype if hasattr(x, "dtype") else np.dtype(np.float64)


def _normalize_index(index):
    """Traced values cannot index; lists become integer arrays as in NumPy."""
    if isinstance(index, list):
        return np.asarray(index)
    if isinstance(index, tuple):
        return tuple(np.asarray(i) if isinstance(i, list) else i for i in index)
    return index


def subscript(x, index):
    return getitem(x, _normalize_index(index))


# -- joining ----------------------------------------------------------------

def axis_slice(axis, ndim, start, stop):
    axis = normalize_axis_index(axis, ndim)
    return (slice(None),) * axis + (slice(start, stop),)


def _concatenate_fun(axis, *arrays):
    return np.concatenate(arrays, axis=axis)


def _concatenate_vjp(position, g, ans, axis, *arrays):
    k = position - 1
    if axis is None:
        sizes = [np.size(a) for a in arrays]
        start = sum(sizes[:k])
        return reshape(getitem(g, slice(start, start + sizes[k])), np.shape(arrays[k]))
    ndim = np.ndim(ans)
    sizes = [np.shape(a)[normalize_axis_index(axis, ndim)] for a in arrays]
    start = sum(sizes[:k])
    return getitem(g, axis_slice(axis, ndim, start, start + sizes[k]))


def _concatenate_jvp(position, t, ans, axis, *arrays):
    """Tangent of the output from the tangent of argument `position`:
    the tangent in its block, zeros elsewhere."""
    parts = [t if i == position - 1 else np.zeros(np.shape(a), _dtype(a))
             for i, a in enumerate(arrays)]
    return _concatenate_args(axis, *parts)


_concatenate_args = defprim("concatenate", _concatenate_fun, vjps=[None],
                            vjp_variadic=_concatenate_vjp, jvps=[None],
                            jvp_variadic=_concatenate_jvp)


def _stack_fun(axis, *arrays):
    if arrays and (axis == 0 or axis == -1) and all(type(a) is float for a in arrays):
        return np.array(arrays, np.float64)  # (a loop's numbers: what np.stack gives, 20x sooner)
    return np.stack(arrays, axis=axis)


def _stack_vjp(position, g, ans, axis, *arrays):
    axis = normalize_axis_index(axis, np.ndim(ans))
    return getitem(g, (slice(None),) * axis + (position - 1,))


def _stack_jvp(position, t, ans, axis, *arrays):
    parts = [t if i == position - 1 else np.zeros(np.shape(a), _dtype(a))
             for i, a in enumerate(arrays)]
    return _stack_args(axis, *parts)


_stack_args = defprim("stack", _stack_fun, vjps=[None], vjp_variadic=_stack_vjp,
                      jvps=[None], jvp_variadic=_stack_jvp)


def concatenate(arrays, axis=0):
    """numpy.concatenate, differentiable in every array."""
    return _concatenate_args(axis, *arrays)


def stack(arrays, axis=0):
    """numpy.stack, differentiable in every array."""
    return _stack_args(axis, *arrays)
