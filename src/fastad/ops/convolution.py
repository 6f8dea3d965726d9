"""Convolution: numpy.convolve and scipy.signal.convolve (the direct
method), both arguments differentiable, to any order.  Their values are
NumPy's and SciPy's own (the primitive calls them); the rules' convolutions
are sums of products over sliding windows (einsum).

One primitive computes every form: the full convolution of a and b along
pairs of axes (a's axis i with b's axis j), summed over "dot" axis pairs,
with every other axis an outer product (autograd's generalisation, whose
output axes are a's others, b's others, then the convolved ones), and only
the slice [start, start + length) of each convolved axis kept.  The modes
are slices of the full result: 'full' keeps all n_a + n_b - 1 points,
'valid' the min - 1 ... max - 1 ones, SciPy's 'same' n_a from (n_b - 1) // 2
and NumPy's max(n_a, n_b) from (min - 1) // 2.

Derivatives (with g the cotangent of the slice from s): a's is a slice of
the full convolution of g with b reversed, from n_b - 1 - s, n_a long, since
a_bar[k] = sum_j g[j] b[s + j - k]; b's likewise with a reversed.  Both are
the primitive again, so the rules nest; the JVPs are the primitive with a
tangent in place of a or b (it is bilinear).
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import defprim
from .shape import getitem, transpose
from .tracing import is_traced, as_traceable


def _convolve_fun(a, b, conv, dot, starts, lengths, library=None):
    """The primitive's values.  conv and dot: ((a's axes), (b's axes));
    library: whose values the face's call promises, "numpy" (numpy.convolve,
    of which every mode is a slice of 'full') or a mode of
    scipy.signal.convolve's direct method; None (the rules) a sum of
    products over sliding windows."""
    a, b = np.asarray(a), np.asarray(b)
    (conv_a, conv_b), (dot_a, dot_b) = conv, dot
    if library == "numpy":
        return np.convolve(a, b, "full")[starts[0]:starts[0] + lengths[0]]
    if library is not None:
        try:
            from scipy import signal  # (only a traced scipy.signal.convolve call gets here)
        except ImportError:  # pragma: no cover - SciPy is optional: the same sums, reordered
            pass
        else:
            return signal.convolve(a, b, library, method="direct")
    # b's elements each output point needs, zero outside b: b[s - (n_a - 1) ... s + L - 1]
    pads, cut = [(0, 0)] * b.ndim, [slice(None)] * b.ndim
    for i, j, s, length in zip(conv_a, conv_b, starts, lengths):
        n_a, n_b = a.shape[i], b.shape[j]
        first, last = s - (n_a - 1), s + length - 1
        pads[j] = (max(0, -first), max(0, last - (n_b - 1)))
        cut[j] = slice(max(0, first), min(n_b, last + 1))
    windows = sliding_window_view(np.pad(b[tuple(cut)], pads),
                                  tuple(a.shape[i] for i in conv_a), axis=conv_b)
    flipped = a[tuple(slice(None, None, -1) if k in conv_a else slice(None)
                      for k in range(a.ndim))]
    # einsum labels: a's free axes, b's free axes, the output points, the
    # window offsets (a's convolved axes) and the dot axes
    labels = iter(range(52))
    free_a = {k: next(labels) for k in range(a.ndim) if k not in conv_a and k not in dot_a}
    free_b = {k: next(labels) for k in range(b.ndim) if k not in conv_b and k not in dot_b}
    points = {j: next(labels) for j in conv_b}
    offsets = {i: next(labels) for i in conv_a}
    summed = {i: next(labels) for i in dot_a}
    labels_a = [free_a.get(k, offsets.get(k, summed.get(k))) for k in range(a.ndim)]
    labels_b = [free_b.get(k) if k in free_b else points.get(k) if k in points
                else summed[dot_a[dot_b.index(k)]] for k in range(b.ndim)]
    labels_b += [offsets[i] for i in conv_a]
    out = list(free_a.values()) + list(free_b.values()) + [points[j] for j in conv_b]
    return np.einsum(flipped, labels_a, windows, labels_b, out, optimize=True)


def _reversed(x, axes):
    return getitem(x, tuple(slice(None, None, -1) if k in axes else slice(None)
                            for k in range(np.ndim(x))))


def _free(ndim, conv, dot):
    return [k for k in range(ndim) if k not in conv and k not in dot]


def _convolve_vjp(g, x, other, conv_x, conv_other, dot_x, dot_other, starts, x_first):
    """The cotangent of x (a if x_first, else b) from g, the cotangent of
    convolve's output; `other` is the other operand."""
    n_x, n_other = np.ndim(x), np.ndim(other)
    free_x, free_other = _free(n_x, conv_x, dot_x), _free(n_other, conv_other, dot_other)
    # g's axes: a's free, b's free, the convolved ones (x's free axes stay in the result)
    g_free_other = list(range(len(free_x), len(free_x) + len(free_other))) if x_first else \
        list(range(len(free_other)))
    g_conv = tuple(range(len(free_x) + len(free_other), np.ndim(g)))
    new_starts = tuple(np.shape(other)[j] - 1 - s for j, s in zip(conv_other, starts))
    lengths = tuple(np.shape(x)[i] for i in conv_x)
    # other's dot axes are free in this convolution, in other's axis order
    result = convolve_axes(g, _reversed(other, conv_other), (g_conv, tuple(conv_other)),
                           (tuple(g_free_other), tuple(free_other)), new_starts, lengths)
    order = free_x + [dot_x[dot_other.index(k)] for k in sorted(dot_other)] + list(conv_x)
    return transpose(result, tuple(np.argsort(order)))


convolve_axes = defprim(
    "convolve", _convolve_fun,
    vjps=[lambda g, ans, a, b, conv, dot, starts, lengths, library=None:
          _convolve_vjp(g, a, b, conv[0], conv[1], dot[0], dot[1], starts, True),
          lambda g, ans, a, b, conv, dot, starts, lengths, library=None:
          _convolve_vjp(g, b, a, conv[1], conv[0], dot[1], dot[0], starts, False),
          None, None, None, None, None],
    jvps=[lambda t, ans, a, b, conv, dot, starts, lengths, library=None:
          convolve_axes(t, b, conv, dot, starts, lengths, library),
          lambda t, ans, a, b, conv, dot, starts, lengths, library=None:
          convolve_axes(a, t, conv, dot, starts, lengths, library),
          None, None, None, None, None],
    saves=[(1,), (0,)])


def convolve(a, v, mode="full"):
    """numpy.convolve, differentiable in a and v."""
    if not is_traced(a, v):
        return np.convolve(a, v, mode)
    a, v = as_traceable(a), as_traceable(v)
    if np.ndim(a) == 0:
        a = getitem(a, (None,))
    if np.ndim(v) == 0:
        v = getitem(v, (None,))
    n_a, n_v = np.shape(a)[0], np.shape(v)[0]
    if n_a == 0:
        raise ValueError("a cannot be empty")
    if n_v == 0:
        raise ValueError("v cannot be empty")
    short, long = min(n_a, n_v), max(n_a, n_v)
    modes = {"full": (0, n_a + n_v - 1), "same": ((short - 1) // 2, long),
             "valid": (short - 1, long - short + 1)}
    modes.update({2: modes["full"], 1: modes["same"], 0: modes["valid"]})
    if mode not in modes:
        raise ValueError("mode must be one of 'valid', 'same', or 'full' (got %r)" % (mode,))
    start, length = modes[mode]
    return convolve_axes(a, v, ((0,), (0,)), ((), ()), (start,), (length,), "numpy")


def _pairs_of_axes(axes, ndim_a, ndim_b, name):
    """autograd's ((a's axes), (b's axes)) as normalised tuples."""
    from .shape import normalize_axis_tuple
    axes_a, axes_b = axes
    axes_a = normalize_axis_tuple(tuple(axes_a), ndim_a, name)
    axes_b = normalize_axis_tuple(tuple(axes_b), ndim_b, name)
    if len(axes_a) != len(axes_b):
        raise ValueError("convolve: %s pairs %d axes of in1 with %d of in2"
                         % (name, len(axes_a), len(axes_b)))
    return axes_a, axes_b


def signal_convolve(in1, in2, mode="full", method="auto", *, axes=None, dot_axes=((), ())):
    """scipy.signal.convolve by the direct method, differentiable in in1
    and in2.  autograd's keywords are taken too: axes=((in1's), (in2's)),
    the axis pairs to convolve (default: all, as SciPy), and
    dot_axes=((in1's), (in2's)), pairs summed over; the other axes are outer
    products, and the output's axes are in1's others, in2's others, then the
    convolved ones.

    >>> import fastad.scipy.signal
    >>> fd.grad(lambda a: np.sum(fastad.scipy.signal.convolve(a, numpy.array([1.0, 2.0]))))(
    ...     numpy.array([0.5, -1.0, 2.0]))
    array([3., 3., 3.])
    """
    if not isinstance(mode, str):
        raise TypeError("convolve's third argument is SciPy's mode ('full', 'valid', 'same'); "
                        "pass autograd's axes and dot_axes by keyword")
    if method not in ("auto", "direct", "fft"):
        raise ValueError("Acceptable method flags are 'auto', 'direct', or 'fft'.")
    generalised = axes is not None or any(len(d) for d in dot_axes)
    if not is_traced(in1, in2) and not generalised:
        try:
            from scipy import signal
        except ImportError:  # pragma: no cover - SciPy is optional: the direct sum below
            pass
        else:
            return signal.convolve(in1, in2, mode, method)
    in1, in2 = as_traceable(in1), as_traceable(in2)
    ndim1, ndim2 = np.ndim(in1), np.ndim(in2)
    if not generalised:
        if ndim1 != ndim2:
            raise ValueError("in1 and in2 should have the same dimensionality")
        if ndim1 == 0:
            from .elementwise import multiply
            return multiply(in1, in2)
    conv = (_pairs_of_axes(axes, ndim1, ndim2, "axes") if axes is not None
            else (tuple(range(ndim1)), tuple(range(ndim1))))
    dot = _pairs_of_axes(dot_axes, ndim1, ndim2, "dot_axes")
    sizes = [(np.shape(in1)[i], np.shape(in2)[j]) for i, j in zip(*conv)]
    if mode == "valid":
        if not (all(n1 >= n2 for n1, n2 in sizes) or all(n2 >= n1 for n1, n2 in sizes)):
            raise ValueError("For 'valid' mode, one must be at least as large as the other "
                             "in every dimension")
        starts = tuple(min(n1, n2) - 1 for n1, n2 in sizes)
        lengths = tuple(abs(n1 - n2) + 1 for n1, n2 in sizes)
    elif mode == "same":
        starts = tuple((n2 - 1) // 2 for n1, n2 in sizes)
        lengths = tuple(n1 for n1, n2 in sizes)
    elif mode == "full":
        starts = tuple(0 for _ in sizes)
        lengths = tuple(n1 + n2 - 1 for n1, n2 in sizes)
    else:
        raise ValueError("Acceptable mode flags are 'valid', 'same', or 'full'.")
    if any(n1 == 0 or n2 == 0 for n1, n2 in sizes):
        return np.array([])
    # SciPy's own direct sums where the call is SciPy's (its N-d sum adds in
    # an order of its own); the derivatives' convolutions are sums over windows
    library = None if generalised else mode
    return convolve_axes(in1, in2, conv, dot, starts, lengths, library)
