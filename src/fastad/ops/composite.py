"""NumPy functions written with fastad's primitives.

Each is differentiable to any order, in both modes, because it is built
from primitives that are: no rules of their own to get wrong.  (Where a
fused rule would be much faster, the function belongs in the op table
instead.)
"""
import numpy as np

from .axes import take_axis
from .elementwise import where, multiply, subtract
from .indexing import diagonal
from .shape import getitem, reshape, concatenate, stack, transpose, moveaxis, axis_slice
from .tracing import is_traced, plain_value


def repeat(a, repeats, axis=None):
    """numpy.repeat"""
    if not is_traced(a):
        return np.repeat(a, repeats, axis=axis)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    return take_axis(a, np.repeat(np.arange(np.shape(a)[axis]), repeats), axis)


def tile(a, reps):
    """numpy.tile"""
    if not is_traced(a):
        return np.tile(a, reps)
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    ndim = max(np.ndim(a), len(reps))
    a = reshape(a, (1,) * (ndim - np.ndim(a)) + np.shape(a))
    reps = (1,) * (ndim - len(reps)) + reps
    index = np.ix_(*[np.tile(np.arange(n), r) for n, r in zip(np.shape(a), reps)])
    return getitem(a, index)


def flip(m, axis=None):
    """numpy.flip"""
    if not is_traced(m):
        return np.flip(m, axis=axis)
    ndim = np.ndim(m)
    axes = range(ndim) if axis is None else [x % ndim for x in np.atleast_1d(axis)]
    index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(ndim))
    return getitem(m, index)


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def roll(a, shift, axis=None):
    """numpy.roll"""
    if not is_traced(a):
        return np.roll(a, shift, axis=axis)
    if axis is None:
        return reshape(roll(reshape(a, (-1,)), shift, 0), np.shape(a))
    shifts, axes = np.broadcast_arrays(np.atleast_1d(shift), np.atleast_1d(axis))
    for s, ax in zip(shifts, axes):
        n = np.shape(a)[ax]
        a = take_axis(a, (np.arange(n) - s) % n if n else np.arange(0), ax)
    return a


def rot90(m, k=1, axes=(0, 1)):
    """numpy.rot90: flips and a transpose, as NumPy does it."""
    if not is_traced(m):
        return np.rot90(m, k, axes)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    perm = list(range(np.ndim(m)))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return transpose(flip(m, axes[1]), perm)
    return flip(transpose(m, perm), axes[1])


def _tri_mask(shape, k, upper):
    rows, cols = shape[-2], shape[-1]
    mask = np.triu(np.ones((rows, cols), bool), k) if upper else np.tril(np.ones((rows, cols), bool), k)
    return mask


def triu(m, k=0):
    """numpy.triu"""
    if not is_traced(m):
        return np.triu(m, k)
    return where(_tri_mask(np.shape(m), k, True), m, 0.0)


def tril(m, k=0):
    """numpy.tril"""
    if not is_traced(m):
        return np.tril(m, k)
    return where(_tri_mask(np.shape(m), k, False), m, 0.0)


def diag(v, k=0):
    """numpy.diag: the k-th diagonal of a matrix, or a matrix with v on it."""
    if not is_traced(v):
        return np.diag(v, k)
    if np.ndim(v) == 2:
        return diagonal(v, k)
    n = np.shape(v)[0] + abs(k)
    i = np.arange(np.shape(v)[0])
    r, c = (i, i + k) if k >= 0 else (i - k, i)
    from .shape import untake
    return untake(v, (r, c), (n, n), v.dtype)


def atleast_1d(*arys):
    out = [reshape(a, (1,)) if np.ndim(a) == 0 and is_traced(a) else
           (a if is_traced(a) else np.atleast_1d(a)) for a in arys]
    return out[0] if len(out) == 1 else out


def atleast_2d(*arys):
    out = []
    for a in arys:
        if not is_traced(a):
            out.append(np.atleast_2d(a))
        elif np.ndim(a) < 2:
            out.append(reshape(a, (1,) * (2 - np.ndim(a)) + np.shape(a)))
        else:
            out.append(a)
    return out[0] if len(out) == 1 else out


def atleast_3d(*arys):
    out = []
    for a in arys:
        if not is_traced(a):
            out.append(np.atleast_3d(a))
        elif np.ndim(a) == 0:
            out.append(reshape(a, (1, 1, 1)))
        elif np.ndim(a) == 1:
            out.append(reshape(a, (1, np.shape(a)[0], 1)))
        elif np.ndim(a) == 2:
            out.append(reshape(a, np.shape(a) + (1,)))
        else:
            out.append(a)
    return out[0] if len(out) == 1 else out


def vstack(tup):
    return concatenate([atleast_2d(t) for t in tup], axis=0)


row_stack = vstack


def hstack(tup):
    arrs = [atleast_1d(t) for t in tup]
    return concatenate(arrs, axis=0 if np.ndim(arrs[0]) == 1 else 1)


def dstack(tup):
    return concatenate([atleast_3d(t) for t in tup], axis=2)


def column_stack(tup):
    cols = [reshape(t, (-1, 1)) if np.ndim(t) < 2 else t for t in tup]
    return concatenate(cols, axis=1)


def _split_points(n, indices_or_sections, strict):
    if np.ndim(indices_or_sections) == 0:
        sections = int(indices_or_sections)
        if strict and n % sections:
            raise ValueError("array split does not result in an equal division")
        base, extra = divmod(n, sections)
        sizes = [base + 1] * extra + [base] * (sections - extra)
        return np.cumsum([0] + sizes)
    return np.concatenate([[0], np.asarray(indices_or_sections), [n]])


def array_split(ary, indices_or_sections, axis=0, _strict=False):
    """numpy.array_split"""
    if not is_traced(ary):
        return (np.split if _strict else np.array_split)(ary, indices_or_sections, axis)
    ndim = np.ndim(ary)
    n = np.shape(ary)[axis]
    points = _split_points(n, indices_or_sections, _strict)
    return [getitem(ary, axis_slice(axis, ndim, int(max(0, min(a, n))), int(max(0, min(b, n)))))
            for a, b in zip(points[:-1], points[1:])]


def split(ary, indices_or_sections, axis=0):
    """numpy.split"""
    return array_split(ary, indices_or_sections, axis, _strict=True)


def hsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 1 if np.ndim(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 0)


def dsplit(ary, indices_or_sections):
    return split(ary, indices_or_sections, 2)


def pad(array, pad_width, mode="constant", **kwargs):
    """numpy.pad for the modes constant, edge, wrap, reflect and symmetric."""
    if not is_traced(array):
        return np.pad(array, pad_width, mode=mode, **kwargs)
    ndim = np.ndim(array)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int).reshape(-1, 2)
                             if np.ndim(pad_width) else np.full((1, 2), pad_width), (ndim, 2))
    if mode == "constant":
        value = kwargs.get("constant_values", 0.0)
        for axis, (before, after) in enumerate(widths):
            if before or after:
                shape = list(np.shape(array))
                parts = []
                if before:
                    shape[axis] = before
                    parts.append(np.full(shape, value, dtype=array.dtype))
                parts.append(array)
                if after:
                    shape[axis] = after
                    parts.append(np.full(shape, value, dtype=array.dtype))
                array = concatenate(parts, axis=axis)
        return array
    if mode not in ("edge", "wrap", "reflect", "symmetric"):
        raise NotImplementedError("fastad.numpy.pad supports the modes constant, edge, wrap, "
                                  "reflect and symmetric on traced arrays, not %r" % mode)
    for axis, (before, after) in enumerate(widths):
        if before or after:
            index = np.pad(np.arange(np.shape(array)[axis]), (before, after), mode=mode)
            array = take_axis(array, index, axis)
    return array


def kron(a, b):
    """numpy.kron"""
    if not is_traced(a, b):
        return np.kron(a, b)
    ndim = max(np.ndim(a), np.ndim(b))
    a = reshape(a, (1,) * (ndim - np.ndim(a)) + np.shape(a))
    b = reshape(b, (1,) * (ndim - np.ndim(b)) + np.shape(b))
    # a[i, None, j, None] * b[None, k, None, l] -> (i k, j l)
    a_exp = reshape(a, tuple(x for n in np.shape(a) for x in (n, 1)))
    b_exp = reshape(b, tuple(x for n in np.shape(b) for x in (1, n)))
    product = multiply(a_exp, b_exp)
    return reshape(product, tuple(p * q for p, q in zip(np.shape(a), np.shape(b))))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """numpy.cross for 3-vectors (and 2-vectors, giving the z component)."""
    if not is_traced(a, b):
        return np.cross(a, b, axisa, axisb, axisc, axis)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis(a, axisa, -1)
    b = moveaxis(b, axisb, -1)
    n = np.shape(a)[-1]
    c = lambda x, i: getitem(x, (Ellipsis, i))  # noqa: E731
    if n == 2 and np.shape(b)[-1] == 2:
        return subtract(multiply(c(a, 0), c(b, 1)), multiply(c(a, 1), c(b, 0)))
    if n != 3 or np.shape(b)[-1] != 3:
        raise ValueError("fastad.numpy.cross supports vectors of length 2 or 3")
    x = subtract(multiply(c(a, 1), c(b, 2)), multiply(c(a, 2), c(b, 1)))
    y = subtract(multiply(c(a, 2), c(b, 0)), multiply(c(a, 0), c(b, 2)))
    z = subtract(multiply(c(a, 0), c(b, 1)), multiply(c(a, 1), c(b, 0)))
    return moveaxis(stack([x, y, z], axis=-1), -1, axisc)


def zeros_like(a, dtype=None, *args, **kwargs):
    return np.zeros_like(plain_value(a), dtype, *args, **kwargs)


def ones_like(a, dtype=None, *args, **kwargs):
    return np.ones_like(plain_value(a), dtype, *args, **kwargs)


def full_like(a, fill_value, dtype=None, *args, **kwargs):
    return np.full_like(plain_value(a), fill_value, dtype, *args, **kwargs)
