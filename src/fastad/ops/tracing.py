"""What op functions ask of their input: whether any argument is traced
(is_traced), an argument's plain value (plain_value), and an argument the
primitives take as it is (as_traceable: a traced value, or else a NumPy
array).
"""
import numpy as np

from .. import _tape

#: the types of traced values: `type(x) in TRACED` tests one
TRACED = (_tape.Scalar, _tape.Array)


def is_traced(*xs):
    return any(type(x) in TRACED for x in xs)


def plain_value(a):
    return a.value if type(a) in TRACED else a


def as_traceable(x):
    """A traced value as it is; anything else as a NumPy array."""
    return x if is_traced(x) else np.asarray(x)
