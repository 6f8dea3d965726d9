"""Discrete Fourier transforms (numpy.fft and scipy.fft): NumPy's (or SciPy's)
values, derivatives of any order in both modes.

Every transform is linear, so its JVP is the transform of the tangent.  Its
VJP is the transpose (autograd's and JAX's convention: not the conjugate
transpose).  The DFT matrix is symmetric, so the transpose of a complex
transform along an axis of length n is the same transform of the cotangent,
followed by the transpose of the crop or zero-pad to n (a zero-pad or crop
back to the input's length).  The real transforms are the complex ones with
a real input (rfft: the cotangent's real part, taken by the sweep, of the
complex transform of the cotangent zero-extended to n) or with a real part
taken of a Hermitian extension (irfft: y = Re(M x) with M_jk = w_k
e^{2 pi i jk/n} c, whose transpose is w_k times the inverse transform of the
cotangent, w_k = 2 but for the terms at 0 and n/2).  hfft and ihfft are
NumPy's compositions of these with conjugate; fftshift and ifftshift are
rolls.
"""
import numpy as np

from . import defprim
from .elementwise import conjugate, multiply
from .shape import concatenate, getitem, normalize_axis_tuple
from .tracing import is_traced

_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _fit_axis(g, axis, length):
    """`g` cropped or zero-padded along `axis` to `length` (the transpose of
    the same operation from `length` to g's length)."""
    n = np.shape(g)[axis]
    ndim = np.ndim(g)
    if n > length:
        index = [slice(None)] * ndim
        index[axis] = slice(0, length)
        return getitem(g, tuple(index))
    if n < length:
        shape = list(np.shape(g))
        shape[axis] = length - n
        return concatenate([g, np.zeros(shape, np.result_type(g))], axis=axis)
    return g


def _fit(g, axes, shape):
    for axis in axes:
        g = _fit_axis(g, axis, shape[axis])
    return g


def _transformed_axes(x, s, axes, default_axes):
    """The transformed axes, normalized (NumPy's default where None)."""
    ndim = np.ndim(x)
    if axes is None:
        axes = default_axes(ndim, s)
    axes = normalize_axis_tuple(axes, ndim, allow_duplicate=True)
    if len(set(axes)) != len(axes):
        raise NotImplementedError("the derivative of a transform repeating an axis (%s) is "
                                  "not implemented" % (axes,))
    if s is not None and len(s) != len(axes):
        raise ValueError("shape and axes have different lengths")
    return tuple(axes)


def _sizes(x, s, axes):
    """The transform length along each axis: `s`, or the input's."""
    return tuple(int(n) for n in s) if s is not None else tuple(np.shape(x)[a] for a in axes)


def _all_axes(ndim, s):
    return tuple(range(ndim)) if s is None else tuple(range(ndim - len(s), ndim))


def _last_two(ndim, s):
    return (-2, -1)


def _hermitian_weights(n, k, axis, ndim):
    """w_k for the first k (= n // 2 + 1) terms of an inverse real transform of
    length n: 1 at 0 and, for even n, at n / 2; 2 elsewhere (shaped to
    broadcast along `axis`)."""
    w = np.full(k, 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    shape = [1] * ndim
    shape[axis] = k
    return w.reshape(shape)


class _Family:
    """One library's transforms (numpy.fft or scipy.fft) as primitives."""

    def __init__(self, library, prefix):
        self.library = library
        self.prefix = prefix
        self.complex_transforms = {}  # fft, ifft, ...: the transposes of the real ones

    def _primitive(self, name, one_axis, vjp):
        """The library's `name` as a primitive of (x, s, axes, norm), s and
        axes normalized; linear, so its JVP is the transform of the tangent."""
        fun = getattr(self.library, name)

        def call(x, s, axes, norm):
            return fun(x, s[0], axes[0], norm) if one_axis else fun(x, s, axes, norm)

        def jvp(t, ans, x, s, axes, norm):
            return prim(t, s, axes, norm)

        prim = defprim(self.prefix + name, call, vjps=[vjp, None, None, None],
                       jvps=[jvp, None, None, None], saves=[(0,), (), (), ()])
        return prim

    def complex_nd(self, name, default_axes, one_axis):
        """fft, ifft (one_axis), fft2, ifft2, fftn, ifftn."""
        def vjp(g, ans, x, s, axes, norm):
            return _fit(transform(g, None, axes, norm), axes, np.shape(x))

        prim = self._primitive(name, one_axis, vjp)

        def transform(x, s, axes, norm):
            axes = _transformed_axes(x, s, axes, default_axes)
            return prim(x, _sizes(x, s, axes), axes, norm)
        return transform

    def real_forward(self, name, default_axes, one_axis):
        """rfft, rfft2, rfftn: a real input, the first n // 2 + 1 terms along
        the last axis."""
        full = "fft" if one_axis else "fftn"

        def vjp(g, ans, x, s, axes, norm):
            # the half spectrum zero-extended to the full length, then the full transform
            g = _fit_axis(g, axes[-1], s[-1])
            return _fit(self.complex_transforms[full](g, None, axes, norm), axes, np.shape(x))

        prim = self._primitive(name, one_axis, vjp)

        def transform(x, s, axes, norm):
            if np.iscomplexobj(x):
                raise TypeError("%s takes real input; got %s (use fft for complex input)"
                                % (name, np.result_type(x)))
            axes = _transformed_axes(x, s, axes, default_axes)
            return prim(x, _sizes(x, s, axes), axes, norm)
        return transform

    def real_inverse(self, name, default_axes, one_axis):
        """irfft, irfft2, irfftn: n // 2 + 1 terms along the last axis in, a real
        output of length n (2 (m - 1) by default) there."""
        inverse = "ifft" if one_axis else "ifftn"

        def vjp(g, ans, x, s, axes, norm):
            n, k = s[-1], s[-1] // 2 + 1
            half = _fit_axis(self.complex_transforms[inverse](g, None, axes, norm), axes[-1], k)
            half = multiply(half, _hermitian_weights(n, k, axes[-1], np.ndim(g)))
            return _fit(half, axes, np.shape(x))

        prim = self._primitive(name, one_axis, vjp)

        def transform(x, s, axes, norm):
            axes = _transformed_axes(x, s, axes, default_axes)
            if s is None:  # NumPy's default output length: 2 (m - 1) along the last axis
                s = _sizes(x, None, axes)[:-1] + (2 * (np.shape(x)[axes[-1]] - 1),)
            return prim(x, _sizes(x, s, axes), axes, norm)
        return transform


def make_family(library, prefix):
    """The transforms of `library` (numpy.fft or scipy.fft) as primitives
    named `prefix + name`: {name: transform(x, s, axes, norm)}."""
    family = _Family(library, prefix)
    out = {}
    for name, default_axes, one_axis in [("fft", None, True), ("ifft", None, True),
                                         ("fft2", _last_two, False), ("ifft2", _last_two, False),
                                         ("fftn", _all_axes, False), ("ifftn", _all_axes, False)]:
        transform = family.complex_nd(name, default_axes, one_axis)
        family.complex_transforms[name] = transform
        out[name] = transform
    for name, default_axes, one_axis in [("rfft", None, True), ("rfft2", _last_two, False),
                                         ("rfftn", _all_axes, False)]:
        out[name] = family.real_forward(name, default_axes, one_axis)
    for name, default_axes, one_axis in [("irfft", None, True), ("irfft2", _last_two, False),
                                         ("irfftn", _all_axes, False)]:
        out[name] = family.real_inverse(name, default_axes, one_axis)
    return out


def _refuse_extras(library, name, extras):
    """Keyword arguments that only change where or how the plain result is
    computed (NumPy's out=, SciPy's plan=) are refused on traced input."""
    for key in ("out", "plan"):
        if extras.get(key) is not None:
            raise TypeError("%s.%s: %s= is not supported on traced input; use the result"
                            % (library.__name__, name, key))


def one_axis(name, transforms, library):
    """The public one-axis function: the library's signature (a, n, axis,
    norm, ...library's own options)."""
    transform = transforms[name]
    plain = getattr(library, name)

    def function(a, n=None, axis=-1, norm=None, **extras):
        if not is_traced(a):
            return plain(a, n, axis, norm, **extras)
        _refuse_extras(library, name, extras)
        return transform(a, None if n is None else (n,), (axis,), norm)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = "%s.%s, differentiable" % (library.__name__, name)
    return function


def many_axes(name, transforms, library, default_axes):
    transform = transforms[name]
    plain = getattr(library, name)

    def function(a, s=None, axes=default_axes, norm=None, **extras):
        if not is_traced(a):
            return plain(a, s, axes, norm, **extras)
        _refuse_extras(library, name, extras)
        return transform(a, s, axes, norm)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = "%s.%s, differentiable" % (library.__name__, name)
    return function


_NUMPY = make_family(np.fft, "")
fft, ifft, rfft, irfft = [one_axis(name, _NUMPY, np.fft)
                          for name in ("fft", "ifft", "rfft", "irfft")]
fft2, ifft2, rfft2, irfft2 = [many_axes(name, _NUMPY, np.fft, (-2, -1))
                              for name in ("fft2", "ifft2", "rfft2", "irfft2")]
fftn, ifftn, rfftn, irfftn = [many_axes(name, _NUMPY, np.fft, None)
                              for name in ("fftn", "ifftn", "rfftn", "irfftn")]


def hermitian(name, irfft, rfft, library):
    """hfft (irfft of the conjugate) and ihfft (the conjugate of rfft), with
    the normalization swapped: NumPy's and SciPy's own definitions."""
    plain = getattr(library, name)

    def function(a, n=None, axis=-1, norm=None, **extras):
        if not is_traced(a):
            return plain(a, n, axis, norm, **extras)
        _refuse_extras(library, name, extras)
        if name == "hfft":
            return irfft(conjugate(a), n, axis, _SWAP[norm])
        return conjugate(rfft(a, n, axis, _SWAP[norm]))
    function.__name__ = function.__qualname__ = name
    function.__doc__ = "%s.%s, differentiable" % (library.__name__, name)
    return function


hfft = hermitian("hfft", irfft, rfft, np.fft)
ihfft = hermitian("ihfft", irfft, rfft, np.fft)


def _roll_halves(x, axes, sign):
    """fftshift (sign 1) and ifftshift (-1): a roll by sign * (n // 2) along
    each axis, a permutation whose rules are rolls back."""
    from .manipulation import roll
    axes = tuple(range(np.ndim(x))) if axes is None else \
        ((axes,) if np.ndim(axes) == 0 else tuple(axes))
    return roll(x, [sign * (np.shape(x)[a] // 2) for a in axes], axes)


def fftshift(x, axes=None):
    """numpy.fft.fftshift, differentiable."""
    return _roll_halves(x, axes, 1) if is_traced(x) else np.fft.fftshift(x, axes)


def ifftshift(x, axes=None):
    """numpy.fft.ifftshift, differentiable."""
    return _roll_halves(x, axes, -1) if is_traced(x) else np.fft.ifftshift(x, axes)


fftfreq, rfftfreq = np.fft.fftfreq, np.fft.rfftfreq
