# cython: language_level=3, embedsignature=True
"""The Cython boundary of fastad: the tape, the traced types and the sweeps.

A `Tape` owns the C arrays of csrc/fastad_tape.c.  Scalar operations on a
traced `Scalar` push one node each (opcode, two operand indices, primal) and
allocate nothing else.  Every other operation is a `Primitive` call: its node
carries FA_EXT and its inputs, output and rules live in an `Ext` record of
the tape's side table.  The reverse sweep runs scalar nodes in C with the GIL
released and stops at each FA_EXT node to call its rules through NumPy.

One extension module in files by concern, included at the end of this
one, in this order:

    _core/tape.pxi       the Tape: recording, the reverse, tangent, Taylor,
                         many-cotangent sweeps, replay, element sources
    _core/primitive.pxi  Ext and Primitive: the generic recording path, the
                         array C steps, what the tape keeps (residuals, guards)
    _core/fused.pxi      pending arrays and the fused block programs they build
    _core/fused_run.pxi  fused programs run: evaluation, reverse, tangent, replay
    _core/plan.pxi       recorded tapes lowered to steps over buffers of their own
    _core/plan_steps.pxi the plan's fused and generic steps
    _core/serialize.pxi  the pickled form of tapes, validated on load
    _core/scalar.pxi     the traced Scalar and its C fast paths
    _core/array.pxi      the traced Array, element reads, NumPy's protocols
    _core/ufuncs.pxi     fastad.numpy's elementwise functions with a C path
                         for traced scalars; the opcode tables
    _core/record_sweep.pxi  the recording sweeps of nested operators: their
                         scalar nodes' adjoints and tangents, pushed by C
    _core/operator.pxi   grad and jacfwd on a flat list of scalars, called
                         and swept without the general path's Python
    _core/pattern.pxi    sparsity patterns of a tape's scalar nodes and the
                         colouring of a pattern's columns, in C

They are one module, not several joined by .pxd files, because the
per-operation path crosses them all: a `Scalar` operator calls `fa_push` on
its `Tape`, an `Array` operator calls `_record_elementwise` and may build a
pending array, the sweep calls the C steps and the fused programs.  Within
a module those are direct C calls that the compiler inlines; across
modules a cdef function is called through a pointer imported at load time
and is never inlined, on a path that costs about 100 ns per operation in
all (W1).  Serialization is off that path but stays in this module too: a
pickled tape names its loaders as `fastad._tape._rebuild_*`.

This file holds what every part shares: imports, module settings, the
errors of the recording path and the ndarray tests.
"""
cimport cython
from cpython.float cimport PyFloat_AS_DOUBLE, PyFloat_Check, PyFloat_CheckExact
from cpython.long cimport PyLong_CheckExact
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcmp, memcpy, memset
from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer
from cpython.pythread cimport (PyThread_acquire_lock, PyThread_allocate_lock, PyThread_free_lock,
                               PyThread_get_thread_ident, PyThread_release_lock, NOWAIT_LOCK,
                               WAIT_LOCK)

import os

import numpy as np
cimport numpy as cnp

cnp.import_array()

# NumPy's array type, looked up once (module attribute lookups cost more than
# the type test itself on the per-operation path)
cdef type _ndarray = np.ndarray

#: whether the glibc malloc tuning of fa_tune_malloc is in force (set the
#: environment variable FASTAD_MALLOC_TUNING=0 before import to keep glibc's
#: defaults)
MALLOC_TUNED = bool(fa_tune_malloc()) if os.environ.get("FASTAD_MALLOC_TUNING", "1") != "0" else False

# The fastad.numpy module; bound by fastad/__init__.py once it is imported
# (the traced types delegate their array methods and operators to it).
_fnp = None


# fastad.debug_nans(): check every recorded result for NaN (off: one branch
# on a C flag per operation)
cdef bint _debug_nans = False


def set_debug_nans(bint enabled):
    """Raise FloatingPointError at the first recorded operation producing a
    NaN from inputs without one (returns the previous setting)."""
    global _debug_nans
    previous = _debug_nans
    _debug_nans = enabled
    return previous


def set_max_nodes(int64_t n):
    """Limit the nodes a tape may hold (tests reach the limit cheaply);
    returns the previous limit."""
    global fa_max_nodes
    previous = fa_max_nodes
    fa_max_nodes = n
    return previous


cdef object _nan_error(str name, tuple operands):
    return FloatingPointError(
        "debug_nans: '%s' produced NaN from %s (recorded at %s)"
        % (name, ", ".join(_describe_operand(o) for o in operands), _user_source()))


cdef str _describe_operand(object o):
    if type(o) is _ndarray:
        return "an array of shape %s" % ((<object>o).shape,)
    return repr(o)


def _bind_numpy(module):
    global _fnp
    _fnp = module


# --------------------------------------------------------------------------
# Errors raised on the recording path

class TracerError(RuntimeError):
    """A traced value was used outside the differentiation call it belongs to:
    kept from a call that has returned, or mixed with the traced values of
    another call (or of another thread).

    >>> kept = []
    >>> def f(x):
    ...     kept.append(x)  # the traced input escapes f
    ...     return x * 2.0
    >>> fastad.grad(f)(1.0)
    2.0
    >>> kept[0] * 3.0
    Traceback (most recent call last):
    ...
    fastad._tape.TracerError: a traced value was used after the fastad operator ...
    """


class RetapeRequired(RuntimeError):
    """A recorded tape was replayed at inputs where a decision recorded with
    it (a comparison, abs/max/where condition, ...) comes out differently:
    the function may take another path there, so the tape does not apply.
    `fastad.record(..., retape=True)` records again instead of raising.

    >>> f = lambda x: x * 2.0 if x > 0 else -x
    >>> tape = fastad.record(f, 1.0)
    >>> tape(3.0)
    6.0
    >>> tape(-1.0)
    Traceback (most recent call last):
    ...
    fastad._tape.RetapeRequired: the comparison 'gt' recorded at ... was True and is now False ...
    >>> fastad.record(f, 1.0, retape=True)(-1.0)
    1.0
    """


cdef object _stale_error():
    return TracerError(
        "a traced value was used after the fastad operator (grad, vjp, ...) that "
        "created it had returned: it escaped the function being differentiated "
        "(through a global, a closure or an attribute). Return it from the "
        "function instead of storing it.")


cdef object _mixed_error():
    return TracerError(
        "traced values from two different differentiation calls met in one "
        "operation (for example a value kept from an earlier fastad.grad call, "
        "or one shared between threads). Each call must compute from its own "
        "inputs.")


cdef object _tape_full_error():
    return MemoryError(
        "the fastad tape could not grow: out of memory, or more than 2**31 - 1 "
        "recorded operations")


cdef str _conversion_message(str what):
    return ("cannot convert a traced value to %s: the result would silently drop "
            "its derivative. Use fastad.numpy functions (fastad.numpy.sin, not "
            "math.sin) on traced values, and .value for the plain number when "
            "you do not want the derivative." % what)


cdef str _array_message():
    return ("a NumPy function without a fastad rule was applied to a traced value "
            "(NumPy tried to convert it to a plain array, which would drop its "
            "derivative). Use the fastad.numpy function of the same name, or "
            ".value for the plain array when you do not want the derivative.")


# --------------------------------------------------------------------------
# ndarray tests shared by the C steps, the fused programs and element reads

cdef object _float64 = np.dtype(np.float64)


cdef object _float32 = np.dtype(np.float32)


cdef inline bint _plain(object a, object like, int typenum):
    """A C-contiguous, aligned ndarray of `typenum` (not a stand-in, whose
    elements all alias one) of the shape of the ndarray `like`."""
    if type(a) is not _ndarray:
        return False
    cdef cnp.ndarray array = <cnp.ndarray>a
    cdef cnp.ndarray reference = <cnp.ndarray>like
    cdef int ndim = cnp.PyArray_NDIM(array)
    # (a 0-d array's dimensions may be a NULL pointer, which memcmp must not
    # be given even for zero bytes)
    return (cnp.PyArray_TYPE(array) == typenum and cnp.PyArray_IS_C_CONTIGUOUS(array)
            and cnp.PyArray_ISALIGNED(array) and ndim == cnp.PyArray_NDIM(reference)
            and (ndim == 0 or memcmp(cnp.PyArray_DIMS(array), cnp.PyArray_DIMS(reference),
                                     ndim * sizeof(cnp.npy_intp)) == 0))


include "_core/tape.pxi"
include "_core/primitive.pxi"
include "_core/fused.pxi"
include "_core/fused_run.pxi"
include "_core/plan.pxi"
include "_core/plan_steps.pxi"
include "_core/serialize.pxi"
include "_core/scalar.pxi"
include "_core/array.pxi"
include "_core/ufuncs.pxi"
include "_core/record_sweep.pxi"
include "_core/operator.pxi"
include "_core/pattern.pxi"
