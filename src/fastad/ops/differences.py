"""Finite differences and integrals: diff, gradient and trapezoid, with
NumPy's arithmetic, written with fastad's primitives.
"""
import numpy as np

from . import numpy_versions
from .elementwise import add, multiply, subtract, true_divide, negative, equal
from .reductions import sum
from .axes import axis_index, axis_tuple
from .shape import getitem, reshape, axis_slice, concatenate
from .tracing import is_traced, as_traceable


def diff(a, n=1, axis=-1):
    """numpy.diff"""
    if not is_traced(a):
        return np.diff(a, n=n, axis=axis)
    ndim = np.ndim(a)
    if ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = axis_index(axis, ndim)
    for _ in range(n):
        a = subtract(getitem(a, axis_slice(axis, ndim, 1, None)),
                     getitem(a, axis_slice(axis, ndim, None, -1)))
    return a


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """numpy.trapezoid, NumPy's arithmetic: sum(d * (y[1:] + y[:-1]) / 2)."""
    if not is_traced(y, x, dx):
        return numpy_versions.trapezoid(y, x=x, dx=dx, axis=axis)
    y = as_traceable(y)
    ndim = np.ndim(y)
    axis = axis_index(axis, ndim)
    upper = (slice(None),) * axis + (slice(1, None),)
    lower = (slice(None),) * axis + (slice(None, -1),)
    if x is None:
        d = dx
    else:
        x = as_traceable(x)
        d = subtract(getitem(x, (slice(1, None),)), getitem(x, (slice(None, -1),))) \
            if np.ndim(x) == 1 else subtract(getitem(x, upper), getitem(x, lower))
        if np.ndim(x) == 1 and ndim > 1:
            d = reshape(d, (-1,) + (1,) * (ndim - 1 - axis))
    return sum(true_divide(multiply(d, add(getitem(y, upper), getitem(y, lower))), 2.0),
               axis=axis)


# numpy.gradient's result for several axes: a list before NumPy 2.0, a tuple from it
_SEVERAL_GRADIENTS = type(np.gradient(np.zeros((2, 2))))


def _spacings(f_shape, axes, varargs):
    """numpy.gradient's spacing per axis: a scalar (uniform) or the 1-d
    differences of the coordinates given (NumPy's checks and messages)."""
    if not varargs:
        return [1.0] * len(axes)
    if len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        return list(varargs) * len(axes)
    if len(varargs) != len(axes):
        raise TypeError("invalid number of arguments")
    spacings = []
    for axis, distances in zip(axes, varargs):
        if np.ndim(distances) == 0:
            spacings.append(distances)
            continue
        if np.ndim(distances) != 1:
            raise ValueError("distances must be either scalars or 1d")
        if np.shape(distances)[0] != f_shape[axis]:
            raise ValueError("when 1d, distances must match "
                             "the length of the corresponding dimension")
        distances = as_traceable(distances)
        if np.issubdtype(distances.dtype, np.integer):
            distances = distances.astype(np.float64)
        dx = diff(distances)
        # uniform coordinates count as a scalar spacing, as in NumPy (a
        # comparison of traced coordinates, which recorded tapes guard)
        spacings.append(getitem(dx, 0) if np.all(equal(dx, getitem(dx, 0))) else dx)
    return spacings


def _one_sided(f, axis, ndim, ax_dx, uniform, at_start, edge_order):
    """numpy.gradient's value at the first (at_start) or last point along
    `axis`, of the edge order asked, with NumPy's arithmetic."""
    point = lambda i: getitem(f, axis_slice(axis, ndim, i, i + 1 if i != -1 else None))  # noqa: E731
    if edge_order == 1:
        if at_start:
            return true_divide(subtract(point(1), point(0)),
                               ax_dx if uniform else getitem(ax_dx, slice(0, 1)))
        return true_divide(subtract(point(-1), point(-2)),
                           ax_dx if uniform else getitem(ax_dx, slice(-1, None)))
    if at_start:
        if uniform:
            a, b, c = (true_divide(-1.5, ax_dx), true_divide(2.0, ax_dx),
                       true_divide(-0.5, ax_dx))
        else:
            dx1, dx2 = getitem(ax_dx, slice(0, 1)), getitem(ax_dx, slice(1, 2))
            a = true_divide(negative(add(multiply(2.0, dx1), dx2)), multiply(dx1, add(dx1, dx2)))
            b = true_divide(add(dx1, dx2), multiply(dx1, dx2))
            c = true_divide(negative(dx1), multiply(dx2, add(dx1, dx2)))
        points = point(0), point(1), point(2)
    else:
        if uniform:
            a, b, c = (true_divide(0.5, ax_dx), true_divide(-2.0, ax_dx),
                       true_divide(1.5, ax_dx))
        else:
            dx1, dx2 = getitem(ax_dx, slice(-2, -1)), getitem(ax_dx, slice(-1, None))
            a = true_divide(dx2, multiply(dx1, add(dx1, dx2)))
            b = true_divide(negative(add(dx2, dx1)), multiply(dx1, dx2))
            c = true_divide(add(multiply(2.0, dx2), dx1), multiply(dx2, add(dx1, dx2)))
        points = point(-3), point(-2), point(-1)
    if not uniform:
        a, b, c = (_along(v, axis, ndim) for v in (a, b, c))
    return add(add(multiply(a, points[0]), multiply(b, points[1])), multiply(c, points[2]))


def _along(v, axis, ndim):
    """A 1-d array of coefficients shaped to broadcast along `axis`."""
    shape = [1] * ndim
    shape[axis] = -1
    return reshape(v, tuple(shape))


def gradient(f, *varargs, axis=None, edge_order=1):
    """numpy.gradient: second-order central differences inside, first- or
    second-order one-sided ones at the ends, with NumPy's arithmetic;
    differentiable in f and in the spacings or coordinates."""
    if not is_traced(f, *varargs):
        return np.gradient(f, *varargs, axis=axis, edge_order=edge_order)
    f = as_traceable(f)
    ndim = np.ndim(f)
    axes = tuple(range(ndim)) if axis is None else axis_tuple(axis, ndim)
    spacings = _spacings(np.shape(f), axes, varargs)
    if edge_order > 2:
        raise ValueError("'edge_order' greater than 2 not supported")
    if not np.issubdtype(f.dtype, np.inexact):
        f = f.astype(np.float64)
    results = []
    for ax, ax_dx in zip(axes, spacings):
        if np.shape(f)[ax] < edge_order + 1:
            raise ValueError(
                "Shape of array too small to calculate a numerical gradient, "
                "at least (edge_order + 1) elements are required.")
        uniform = np.ndim(ax_dx) == 0
        before = getitem(f, axis_slice(ax, ndim, None, -2))
        middle = getitem(f, axis_slice(ax, ndim, 1, -1))
        after = getitem(f, axis_slice(ax, ndim, 2, None))
        if uniform:
            inside = true_divide(subtract(after, before), multiply(2.0, ax_dx))
        else:
            dx1, dx2 = getitem(ax_dx, slice(0, -1)), getitem(ax_dx, slice(1, None))
            a = true_divide(negative(dx2), multiply(dx1, add(dx1, dx2)))
            b = true_divide(subtract(dx2, dx1), multiply(dx1, dx2))
            c = true_divide(dx1, multiply(dx2, add(dx1, dx2)))
            a, b, c = (_along(v, ax, ndim) for v in (a, b, c))
            inside = add(add(multiply(a, before), multiply(b, middle)), multiply(c, after))
        first = _one_sided(f, ax, ndim, ax_dx, uniform, True, edge_order)
        last = _one_sided(f, ax, ndim, ax_dx, uniform, False, edge_order)
        out = concatenate([first, inside, last], axis=ax)
        results.append(out if out.dtype == f.dtype else out.astype(f.dtype))
    return results[0] if len(results) == 1 else _SEVERAL_GRADIENTS(results)
