"""Differentiable SciPy functions (fastad.scipy.special, fastad.scipy.stats,
fastad.scipy.linalg, fastad.scipy.integrate, fastad.scipy.fft)."""
from . import integrate, linalg, signal, special, stats  # noqa: F401


def __getattr__(name):
    # fastad.scipy.fft imports scipy.fft (SciPy is optional): on first use
    if name == "fft":
        import importlib
        return importlib.import_module(".fft", __name__)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
