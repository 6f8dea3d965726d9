"""Sorting, searching and counting (NumPy's "sorting, searching, and
counting" routines): sort and partition carry each element's derivative to
its new place; the indices, searches and counts are plain results.

Every order, index and count found on a traced value is a primitive
without a derivative, so that recorded tapes guard it (as they guard
comparisons): sort and partition index by a permutation that argsort and
argpartition find, and a replay where the permutation (or an argmax, a
count) comes out differently raises RetapeRequired instead of indexing by
the recorded one.
"""
import numpy as np

from . import defprim
from .axes import along_axis
from .shape import reshape, ravel, normalize_axis_index
from .tracing import is_traced


# -- sorting ---------------------------------------------------------------------------

# (primitives, so that recorded tapes guard the order found)
argsort = defprim("argsort", np.argsort)
argpartition = defprim("argpartition", np.argpartition)


def _sort_order(a, axis):
    return np.argsort(a, axis=axis, kind="stable")


def _partition_order(a, kth, axis, kind):
    return np.argpartition(a, kth, axis=axis, kind=kind)


# the permutations sort and partition index by (named for them in a
# RetapeRequired message)
_sort_order = defprim("order of sort", _sort_order)
_partition_order = defprim("order of partition", _partition_order)


def sort(a, axis=-1, kind=None, order=None):
    """numpy.sort: the values, with the derivative following each element
    (indexed by their stable argsort, which recorded tapes guard)."""
    if not is_traced(a):
        return np.sort(a, axis=axis, kind=kind, order=order)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    axis = normalize_axis_index(axis, np.ndim(a))
    return along_axis(a, _sort_order(a, axis), axis)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """numpy.partition: NumPy's arrangement, with the derivative following
    each element (indexed by argpartition, which recorded tapes guard)."""
    if not is_traced(a):
        return np.partition(a, kth, axis=axis, kind=kind, order=order)
    if axis is None:
        a, axis = ravel(a), 0
    axis = normalize_axis_index(axis, np.ndim(a))
    return along_axis(a, _partition_order(a, kth, axis, kind), axis)


# -- searching and counting: plain results ---------------------------------------------
# (primitives, so that recorded tapes guard them, as they guard comparisons)
argmax = defprim("argmax", np.argmax)
argmin = defprim("argmin", np.argmin)
count_nonzero = defprim("count_nonzero", np.count_nonzero)
searchsorted = defprim("searchsorted", np.searchsorted)
digitize = defprim("digitize", np.digitize)
argwhere = defprim("argwhere", np.argwhere)
flatnonzero = defprim("flatnonzero", np.flatnonzero)
