"""Debugging aids."""
from . import _tape


class debug_nans:
    """Raise FloatingPointError at the first recorded operation that turns
    NaN-free inputs into a NaN, naming the operation and the line of user
    code that called it.

    ::

        fastad.debug_nans()              # on from now on
        with fastad.debug_nans():        # on inside the block only
            fastad.grad(f)(x)
        fastad.debug_nans(False)         # off

    NaN and inf otherwise propagate per IEEE 754, as in NumPy.

    >>> f = lambda x: np.log(x) * 2.0
    >>> fastad.value_and_grad(f)(-1.0)
    (nan, -2.0)
    >>> with fastad.debug_nans():
    ...     fastad.value_and_grad(f)(-1.0)
    Traceback (most recent call last):
    ...
    FloatingPointError: debug_nans: 'log' produced NaN from -1.0 (recorded at ...)
    """

    def __init__(self, enabled=True):
        self.previous = _tape.set_debug_nans(bool(enabled))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _tape.set_debug_nans(self.previous)
        return False
