"""Sorting, searching and counting (NumPy's "sorting, searching, and
counting" routines): sort and partition carry each element's derivative to
its new place; the indices, searches and counts are plain results.
"""
import numpy as np

from . import defprim
from .axes import along_axis
from .shape import reshape, ravel, normalize_axis_index
from .tracing import is_traced, plain_value


# -- sorting ---------------------------------------------------------------------------

def sort(a, axis=-1, kind=None, order=None):
    """numpy.sort: the values, with the derivative following each element."""
    if not is_traced(a):
        return np.sort(a, axis=axis, kind=kind, order=order)
    value = a.value
    if axis is None:
        a, value, axis = reshape(a, (-1,)), value.reshape(-1), 0
    axis = normalize_axis_index(axis, value.ndim)
    return along_axis(a, np.argsort(value, axis=axis, kind="stable"), axis)


def argsort(a, *args, **kwargs):
    return np.argsort(plain_value(a), *args, **kwargs)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """numpy.partition: NumPy's arrangement, with the derivative following
    each element."""
    if not is_traced(a):
        return np.partition(a, kth, axis=axis, kind=kind, order=order)
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis_index(axis, np.ndim(a))
    index = np.argpartition(a.value, kth, axis=axis, kind=kind)
    return along_axis(a, index, axis)


# -- searching and counting: plain results ---------------------------------------------

def argmax(a, *args, **kwargs):
    return np.argmax(plain_value(a), *args, **kwargs)


def argmin(a, *args, **kwargs):
    return np.argmin(plain_value(a), *args, **kwargs)


# (primitives, so that recorded tapes guard them, as they guard comparisons)
count_nonzero = defprim("count_nonzero", np.count_nonzero)
searchsorted = defprim("searchsorted", np.searchsorted)
digitize = defprim("digitize", np.digitize)
argwhere = defprim("argwhere", np.argwhere)
flatnonzero = defprim("flatnonzero", np.flatnonzero)
