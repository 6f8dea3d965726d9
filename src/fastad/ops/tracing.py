"""What op functions ask of their input: whether any argument is traced
(is_traced), an argument's plain value (plain_value), an argument the
primitives take as it is (as_traceable: a traced value, or else a NumPy
array), and numpy.array and numpy.asarray, which also turn a (nested) list
holding traced values into one traced array.  (array and asarray sit here,
below the families, rather than with the array-creation routines: append
converts its input with asarray, and the creation routines build on the
manipulation ones.)
"""
import numpy as np

from .. import _tape
from .shape import stack

#: the types of traced values: `type(x) in TRACED` tests one
TRACED = (_tape.Scalar, _tape.Array)


def is_traced(*xs):
    return any(type(x) in TRACED for x in xs)


def plain_value(a):
    return a.value if type(a) in TRACED else a


def as_traceable(x):
    """A traced value as it is; anything else as a NumPy array."""
    return x if is_traced(x) else np.asarray(x)


def _contains_traced(obj):
    if type(obj) in TRACED:
        return True
    if isinstance(obj, (list, tuple)):
        # NumPy's any, as `any` was in numpy/__init__.py (from numpy import *): always true
        # of a generator, a known bug kept as it was, to fix separately
        return np.any(_contains_traced(o) for o in obj)
    return False


def array(object, dtype=None, *args, **kwargs):
    """numpy.array; a (nested) list holding traced values becomes a traced
    array built by stacking."""
    if type(object) in TRACED:
        return object if dtype is None else object.astype(dtype)
    if isinstance(object, (list, tuple)) and _contains_traced(object):
        out = stack([array(o) for o in object])
        return out if dtype is None else out.astype(dtype)
    return np.array(object, dtype, *args, **kwargs)


def asarray(a, dtype=None, *args, **kwargs):
    """numpy.asarray; traced values pass through."""
    if type(a) in TRACED or (isinstance(a, (list, tuple)) and _contains_traced(a)):
        return array(a, dtype)
    return np.asarray(a, dtype, *args, **kwargs)
