"""Differentiable scipy.fft: the same names, signatures and values (SciPy's);
every transform differentiates in both modes to any order (see
ops/fourier.py).  `workers` and `overwrite_x` are passed to SciPy on plain
input; on traced input the result is the same and `plan=` is refused."""
import scipy.fft as _library

from ..ops import fourier as _fourier
from ..ops.fourier import fftshift, ifftshift  # noqa: F401
from scipy.fft import fftfreq, rfftfreq, next_fast_len  # noqa: F401

_TRANSFORMS = _fourier.make_family(_library, "scipy.fft.")
fft, ifft, rfft, irfft = [_fourier.one_axis(name, _TRANSFORMS, _library)
                          for name in ("fft", "ifft", "rfft", "irfft")]
fft2, ifft2, rfft2, irfft2 = [_fourier.many_axes(name, _TRANSFORMS, _library, (-2, -1))
                              for name in ("fft2", "ifft2", "rfft2", "irfft2")]
fftn, ifftn, rfftn, irfftn = [_fourier.many_axes(name, _TRANSFORMS, _library, None)
                              for name in ("fftn", "ifftn", "rfftn", "irfftn")]
hfft = _fourier.hermitian("hfft", irfft, rfft, _library)
ihfft = _fourier.hermitian("ihfft", irfft, rfft, _library)
