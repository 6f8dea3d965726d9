"""Indexing routines (NumPy's "indexing routines"): where, take,
take_along_axis, diagonal, trace and select, written with fastad's
primitives: indexing records a getitem, whose reverse is a scatter-add.
"""
import numpy as np

from .axes import axis_index, take_axis, along_axis
from . import elementwise
from .reductions import sum
from .shape import getitem, moveaxis, ravel
from .tracing import is_traced


def _holds_arrays(value):
    """Whether `value` is or holds (in lists) an array, a NumPy scalar or a
    traced value: what makes autograd.numpy.where answer with an array."""
    if isinstance(value, (np.ndarray, np.generic)) or is_traced(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_arrays(item) for item in value)
    return False


def where(condition, *args, **kwargs):
    """numpy.where: where(condition, x, y) picks from x or y elementwise
    (differentiable in x and y), where(condition) gives the indices of the
    true elements.  As in autograd.numpy: x and y may also be passed by
    keyword, and Python numbers and lists alone (no array anywhere) give a
    Python number or list (where(True, 1, 2) is 1)."""
    if not args and not kwargs:
        return elementwise.where(condition)
    if len(args) + len(kwargs) != 2 or set(kwargs) - {"x", "y"}:
        raise ValueError("either both or neither of x and y should be given")
    x = args[0] if args else kwargs["x"]
    y = args[1] if len(args) > 1 else kwargs["y"]
    result = elementwise.where(condition, x, y)
    if type(result) is np.ndarray and not (
            _holds_arrays(condition) or _holds_arrays(x) or _holds_arrays(y)):
        return result.tolist()
    return result


def take(a, indices, axis=None, out=None, mode="raise"):
    """numpy.take (mode 'raise')"""
    if not is_traced(a):
        return np.take(a, indices, axis=axis, out=out, mode=mode)
    if out is not None or mode != "raise":
        raise TypeError("fastad.numpy.take supports neither out= nor mode=%r on traced arrays"
                        % mode)
    if axis is None or (np.ndim(a) == 0 and axis in (0, -1)):
        # (NumPy takes a 0-d array along axis 0 or -1 as the 1-d array of its value)
        return getitem(ravel(a), np.asarray(indices))
    return take_axis(a, indices, axis)


def take_along_axis(arr, indices, axis=-1):
    """numpy.take_along_axis"""
    if not is_traced(arr):
        return np.take_along_axis(arr, indices, axis=axis)
    if axis is None:
        return getitem(ravel(arr), np.asarray(indices))
    axis = axis_index(axis, np.ndim(arr))
    shape = np.shape(arr)
    indices = np.asarray(indices)
    # (the other axes broadcast as in NumPy: a size-1 axis of indices against arr)
    target = tuple(indices.shape[k] if k == axis else
                   np.broadcast_shapes((indices.shape[k],), (shape[k],))[0]
                   for k in range(len(shape)))
    indices = np.broadcast_to(indices, target)
    return along_axis(arr, indices, axis)


def diagonal(a, offset=0, axis1=0, axis2=1):
    """numpy.diagonal (a copy, as a traced array)"""
    if not is_traced(a):
        return np.diagonal(a, offset, axis1, axis2)
    a = moveaxis(a, (axis1, axis2), (-2, -1))
    rows, cols = np.shape(a)[-2:]
    i = np.arange(max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols)))
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    return getitem(a, (Ellipsis, r, c))


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """numpy.trace"""
    if not is_traced(a):
        return np.trace(a, offset, axis1, axis2, dtype, out)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1)


def select(condlist, choicelist, default=0):
    """numpy.select as nested where."""
    if not is_traced(*choicelist, default):
        return np.select(condlist, choicelist, default)
    out = default
    for condition, choice in reversed(list(zip(condlist, choicelist))):
        out = elementwise.where(condition, choice, out)
    return out
