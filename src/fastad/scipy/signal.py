"""Differentiable scipy.signal functions: convolve (the direct method, both
arguments differentiable, and autograd's axes and dot_axes keywords)."""
from ..ops.convolution import signal_convolve as convolve  # noqa: F401
