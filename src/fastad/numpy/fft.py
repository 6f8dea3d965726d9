"""Differentiable numpy.fft: the same names, signatures and values; every
transform differentiates in both modes to any order (see ops/fourier.py)."""
from ..ops.fourier import (  # noqa: F401
    fft, ifft, fft2, ifft2, fftn, ifftn, rfft, irfft, rfft2, irfft2, rfftn, irfftn, hfft, ihfft,
    fftshift, ifftshift, fftfreq, rfftfreq,
)
