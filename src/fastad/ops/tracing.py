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


def contains_traced(obj):
    """Whether `obj` is traced or a (nested) list or tuple holding a traced
    value.  (The builtin `any` short-circuits over the generator; NumPy's,
    which `from numpy import *` once put in its place, called a generator
    true whatever it held.)"""
    if type(obj) in TRACED:
        return True
    if isinstance(obj, (list, tuple)):
        return any(contains_traced(o) for o in obj)
    return False


_plain_array = np.array
_plain_asarray = np.asarray


def array(object, dtype=None, *args, **kwargs):
    """numpy.array; a (nested) list holding traced values becomes a traced
    array built by stacking.  Plain input costs NumPy's own call: the input
    goes to NumPy first, and only when NumPy refuses it (a traced value's
    __array__ raises TypeError) is it looked at again.  (Passing dtype=None
    on to numpy.array costs more than the call itself: 0.3 us a call.)"""
    try:
        if dtype is None and not args and not kwargs:
            return _plain_array(object)
        return _plain_array(object, dtype, *args, **kwargs)
    except TypeError:
        if type(object) in TRACED:
            return object if dtype is None else object.astype(dtype)
        if not (isinstance(object, (list, tuple)) and contains_traced(object)):
            raise
    # (traced items as they are: each would cost numpy.array's refusal)
    out = stack([o if type(o) in TRACED else array(o) for o in object])
    return out if dtype is None else out.astype(dtype)


def asarray(a, dtype=None, *args, **kwargs):
    """numpy.asarray; traced values pass through, and a (nested) list
    holding them becomes a traced array as in `array`."""
    if type(a) in TRACED:
        return a if dtype is None else a.astype(dtype)
    try:
        if dtype is None and not args and not kwargs:
            return _plain_asarray(a)
        return _plain_asarray(a, dtype, *args, **kwargs)
    except TypeError:
        if not (isinstance(a, (list, tuple)) and contains_traced(a)):
            raise
    return array(a, dtype)
