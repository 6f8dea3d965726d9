"""Numbers, not recordings, from fastad's operators called by a primitive's
own implementation.

A primitive's function runs on plain values, but it runs while the operator
differentiating the caller's code is recording: a fastad operator it calls
(the `make_vjp` in a fixed point's adjoint iteration, the `vjp` in an ODE's
adjoint dynamics) would find that operator's tape active and record onto
it, returning traced values to NumPy or SciPy.  `unrecorded()` hides this
thread's active tapes for the duration of such a call, so the operators
inside start tapes of their own and return numbers; the primitive's own
rules, not the recording of its implementation, carry its derivative.

(The stack of active tapes belongs to core.py; this module is its one
other user.)
"""
import contextlib

from .core import _active_tapes

__all__ = ["unrecorded"]


@contextlib.contextmanager
def unrecorded():
    """Within the block, fastad operators called on plain values compute
    plain results even inside another operator's recording.

    >>> from fastad.unrecorded import unrecorded
    >>> def f(x):
    ...     with unrecorded():
    ...         inner = fastad.grad(lambda y: y ** 3)(2.0)   # plain: 12.0
    ...     return inner * x
    >>> fastad.grad(f)(1.0)
    12.0
    """
    stack = _active_tapes()
    hidden = stack[:]
    del stack[:]
    try:
        yield
    finally:
        stack[:] = hidden
