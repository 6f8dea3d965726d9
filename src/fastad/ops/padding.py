"""Padding: numpy.pad in every mode NumPy has (numpy/lib/_arraypad_impl.py).

NumPy pads one axis at a time, in order, each over the axes already
padded; so does this module, joining the pad blocks to the array with
concatenate, so that a corner takes the value the later axis gives it, as
in NumPy.  The blocks are NumPy's: selections of the array's elements
(edge, wrap, reflect and symmetric: NumPy's own pad of the indices says
which), constants, linspace ramps, statistics of the array's ends, and
NumPy's odd reflections 2 edge - x, computed with the same operations in
the same order, so the values are NumPy's and the derivatives flow to the
array, and to constant_values and end_values when those are traced.
"""
import numpy as np

from .axes import take_axis
from .creation import linspace
from .elementwise import multiply, subtract
from .reductions import mean, amax, amin
from .shape import getitem, concatenate, broadcast_to, ravel, squeeze, astype, axis_slice
from .statistics import median
from .tracing import is_traced, asarray, contains_traced

# the keywords each mode takes (NumPy's table, with its messages below)
_KEYWORDS = {
    "empty": [], "edge": [], "wrap": [],
    "constant": ["constant_values"],
    "linear_ramp": ["end_values"],
    "maximum": ["stat_length"], "mean": ["stat_length"], "median": ["stat_length"],
    "minimum": ["stat_length"],
    "reflect": ["reflect_type"], "symmetric": ["reflect_type"],
}
_STATISTICS = {"maximum": amax, "minimum": amin, "mean": mean, "median": median}


def _pairs(x, ndim, as_index=False):
    """NumPy's _as_pairs: `x` broadcast to (before, after) per axis; traced
    values stay traced (constant_values, end_values)."""
    if x is None:
        return ((None, None),) * ndim
    if as_index:
        x = np.round(np.asarray(x)).astype(np.intp, copy=False)
    else:
        x = asarray(x)
    if np.ndim(x) < 3:
        if np.size(x) == 1:
            x = ravel(x)
            if as_index and x < 0:
                raise ValueError("index can't contain negative values")
            return ((getitem(x, 0), getitem(x, 0)),) * ndim
        if np.size(x) == 2 and np.shape(x) != (2, 1):
            x = ravel(x)
            if as_index and (x[0] < 0 or x[1] < 0):
                raise ValueError("index can't contain negative values")
            return ((getitem(x, 0), getitem(x, 1)),) * ndim
    if as_index and x.min() < 0:
        raise ValueError("index can't contain negative values")
    x = broadcast_to(x, (ndim, 2))
    return [(getitem(x, (k, 0)), getitem(x, (k, 1))) for k in range(ndim)]


def _pad_widths(pad_width, ndim):
    """(before, after) per axis as ints, with NumPy's checks."""
    if isinstance(pad_width, dict):
        widths = [(0, 0)] * ndim
        for axis, width in pad_width.items():
            widths[axis] = (width, width) if isinstance(width, int) else tuple(width)
        pad_width = widths
    pad_width = np.asarray(pad_width)
    if not pad_width.dtype.kind == "i":
        raise TypeError("`pad_width` must be of integral type.")
    return [(int(before), int(after)) for before, after in _pairs(pad_width, ndim, True)]


def _filled(array, axis, width, value):
    """A pad block `width` long along `axis`, every element `value` (cast to
    the array's dtype, as NumPy's assignment casts it)."""
    shape = list(np.shape(array))
    shape[axis] = width
    if is_traced(value):
        if value.dtype != array.dtype:
            value = astype(value, array.dtype)
        return broadcast_to(value, tuple(shape))
    return np.full(shape, value, dtype=array.dtype)


def _join(array, axis, before, after):
    """`before`, the array and `after` along `axis` (None: no block)."""
    parts = [p for p in (before, array, after) if p is not None]
    return array if len(parts) == 1 else concatenate(parts, axis=axis)


def _reflect_odd(array, axis, widths, include_edge):
    """NumPy's _set_reflect_both with reflect_type='odd', pass by pass: each
    pass reflects at most the valid length about the current edge, as
    2 edge - x."""
    ndim = np.ndim(array)
    period = np.shape(array)[axis]
    left, right = widths
    while left > 0 or right > 0:
        n = np.shape(array)[axis]
        if include_edge:
            old_length, edge_offset = n // period * period, 1
        else:
            old_length, edge_offset = (n - 1) // (period - 1) * (period - 1), 0
        before = after = None
        if left > 0:
            length = min(old_length, left)
            chunk = take_axis(array, np.arange(length - edge_offset, -edge_offset, -1), axis)
            edge = getitem(array, axis_slice(axis, ndim, 0, 1))
            before = subtract(multiply(2, edge), chunk)
            left -= length
        if right > 0:
            length = min(old_length, right)
            start = n + edge_offset - 2
            chunk = take_axis(array, np.arange(start, start - length, -1), axis)
            edge = getitem(array, axis_slice(axis, ndim, n - 1, n))
            after = subtract(multiply(2, edge), chunk)
            right -= length
        array = _join(array, axis, before, after)
    return array


def _linear_ramps(array, axis, widths, end_values):
    """NumPy's _get_linear_ramps: from each end value to the edge, the
    edge itself excluded."""
    ndim = np.ndim(array)
    n = np.shape(array)[axis]
    ramps = []
    for width, end, edge in zip(widths, end_values, (0, n - 1)):
        if not width:
            ramps.append(None)
            continue
        edge = squeeze(getitem(array, axis_slice(axis, ndim, edge, edge + 1)), axis)
        ramps.append(linspace(end, edge, num=width, endpoint=False, dtype=array.dtype, axis=axis))
    if ramps[1] is not None:
        ramps[1] = getitem(ramps[1], (slice(None),) * axis + (slice(None, None, -1),))
    return ramps


def _statistics(array, axis, widths, lengths, mode):
    """NumPy's _get_stats: the statistic of the first and last `lengths`
    elements along `axis` (None: all), each spread over its pad block."""
    ndim = np.ndim(array)
    n = np.shape(array)[axis]
    left_length, right_length = (n if length is None or n < length else int(length)
                                 for length in lengths)
    if (left_length == 0 or right_length == 0) and mode in ("maximum", "minimum"):
        raise ValueError("stat_length of 0 yields no value for padding")
    statistic = _STATISTICS[mode]
    left = statistic(getitem(array, axis_slice(axis, ndim, 0, left_length)), axis=axis,
                     keepdims=True)
    right = left if left_length == right_length == n else statistic(
        getitem(array, axis_slice(axis, ndim, n - right_length, n)), axis=axis, keepdims=True)
    blocks = []
    for width, value in zip(widths, (left, right)):
        shape = list(np.shape(array))
        shape[axis] = width
        blocks.append(broadcast_to(value, tuple(shape)) if width else None)
    return blocks


def _check_mode(mode, kwargs):
    try:
        unsupported = set(kwargs) - set(_KEYWORDS[mode])
    except (KeyError, TypeError):
        raise ValueError("mode '%s' is not supported" % (mode,)) from None
    if unsupported:
        raise ValueError("unsupported keyword arguments for mode '%s': %s" % (mode, unsupported))


def pad(array, pad_width, mode="constant", **kwargs):
    """numpy.pad in every mode but a function: NumPy's values, derivatives
    to the array and to traced constant_values and end_values."""
    if not (is_traced(array) or contains_traced(list(kwargs.values()))):
        return np.pad(array, pad_width, mode=mode, **kwargs)
    if callable(mode):
        raise NotImplementedError("fastad.numpy.pad takes NumPy's named modes on traced arrays, "
                                  "not a function (it would write into the array)")
    _check_mode(mode, kwargs)
    array = asarray(array)
    ndim = np.ndim(array)
    widths = _pad_widths(pad_width, ndim)
    if mode in ("constant", "empty"):
        # ('empty' leaves the pad undefined in NumPy: zeros are as good)
        values = _pairs(kwargs.get("constant_values", 0), ndim)
        for axis, ((before, after), (value_before, value_after)) in enumerate(zip(widths, values)):
            array = _join(array, axis, _filled(array, axis, before, value_before) if before else None,
                          _filled(array, axis, after, value_after) if after else None)
        return array
    if np.size(array) == 0:
        for axis, (before, after) in enumerate(widths):
            if np.shape(array)[axis] == 0 and (before or after):
                raise ValueError("can't extend empty axis %d using modes other than "
                                 "'constant' or 'empty'" % axis)
        # (no element to pad with: the result is empty too)
        return np.zeros([n + b + a for n, (b, a) in zip(np.shape(array), widths)], array.dtype)
    if mode == "linear_ramp":
        end_values = _pairs(kwargs.get("end_values", 0), ndim)
        for axis, (pair, ends) in enumerate(zip(widths, end_values)):
            array = _join(array, axis, *_linear_ramps(array, axis, pair, ends))
        return array
    if mode in _STATISTICS:
        lengths = _pairs(kwargs.get("stat_length"), ndim, as_index=True)
        for axis, (pair, length_pair) in enumerate(zip(widths, lengths)):
            array = _join(array, axis, *_statistics(array, axis, pair, length_pair, mode))
        return array
    odd = mode in ("reflect", "symmetric") and kwargs.get("reflect_type", "even") == "odd"
    for axis, (before, after) in enumerate(widths):
        if not (before or after):
            continue
        n = np.shape(array)[axis]
        if odd and n > 1:
            array = _reflect_odd(array, axis, (before, after), mode == "symmetric")
        else:
            # a selection: which element goes where is NumPy's own pad of the indices
            index = np.pad(np.arange(n), (before, after), mode="edge" if odd else mode)
            array = take_axis(array, index, axis)
    return array
