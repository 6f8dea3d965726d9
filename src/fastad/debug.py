"""Debugging aids."""
from . import _tape


class debug_nans:
    """Raise FloatingPointError at the first recorded operation that turns
    NaN-free inputs into a NaN, naming the operation and the line of user
    code that called it.

        fastad.debug_nans()              # on from now on
        with fastad.debug_nans():        # on inside the block only
            fastad.grad(f)(x)
        fastad.debug_nans(False)         # off

    NaN and inf otherwise propagate per IEEE 754, as in NumPy."""

    def __init__(self, enabled=True):
        self.previous = _tape.set_debug_nans(bool(enabled))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _tape.set_debug_nans(self.previous)
        return False
