"""IPOPT's C interface (IpStdCInterface.h), called through ctypes: how
`fastad.ipopt.Problem.solve` runs IPOPT.

cyipopt hands each callback's result to IPOPT one element at a time through
Python (about 0.1 us an element: at n = 1e5 a Jacobian of 3e5 entries costs
more to copy than to compute), so `solve` calls the IPOPT library cyipopt is
linked against directly, and each callback writes its whole array into
IPOPT's with one NumPy copy.  The library is the one cyipopt's extension
links (its soname found among the files mapped into the process), so the
IPOPT build and its options are cyipopt's; where it cannot be found (not
Linux, say), `solve` goes through cyipopt instead.

The C interface has the same functions and arguments from IPOPT 3.11 to
3.14 (3.11's `Bool` is an int, 3.14's a C bool: both are read and returned
here as their low byte or a whole int holding 0 or 1).  Indices are C ints
and numbers doubles, IPOPT's default build.
"""
import ctypes
import os
import re
import sys

import numpy as np

_int, _double, _bool = ctypes.c_int, ctypes.c_double, ctypes.c_bool
_ints, _doubles = ctypes.POINTER(_int), ctypes.POINTER(_double)

EVAL_F = ctypes.CFUNCTYPE(_int, _int, _doubles, _int, _doubles, ctypes.c_void_p)
EVAL_GRAD_F = ctypes.CFUNCTYPE(_int, _int, _doubles, _int, _doubles, ctypes.c_void_p)
EVAL_G = ctypes.CFUNCTYPE(_int, _int, _doubles, _int, _int, _doubles, ctypes.c_void_p)
EVAL_JAC_G = ctypes.CFUNCTYPE(_int, _int, _doubles, _int, _int, _int, _ints, _ints, _doubles,
                              ctypes.c_void_p)
EVAL_H = ctypes.CFUNCTYPE(_int, _int, _doubles, _int, _double, _int, _doubles, _int, _int, _ints,
                          _ints, _doubles, ctypes.c_void_p)
INTERMEDIATE = ctypes.CFUNCTYPE(_int, _int, _int, _double, _double, _double, _double, _double,
                                _double, _double, _double, _int, ctypes.c_void_p)

_library = []  # ([the loaded library] or [None]), found once


def library():
    """IPOPT's C library as cyipopt loaded it, with its prototypes set, or
    None where it cannot be found."""
    if not _library:
        _library.append(_load())
    return _library[0]


def _load():
    path = _loaded_path()
    if path is None:
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.CreateIpoptProblem.restype = ctypes.c_void_p
        lib.CreateIpoptProblem.argtypes = [_int, _doubles, _doubles, _int, _doubles, _doubles,
                                           _int, _int, _int, EVAL_F, EVAL_G, EVAL_GRAD_F,
                                           EVAL_JAC_G, EVAL_H]
        lib.FreeIpoptProblem.restype = None
        lib.FreeIpoptProblem.argtypes = [ctypes.c_void_p]
        for name, kind in (("AddIpoptStrOption", ctypes.c_char_p),
                           ("AddIpoptNumOption", _double), ("AddIpoptIntOption", _int)):
            getattr(lib, name).restype = _bool
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_char_p, kind]
        lib.SetIntermediateCallback.restype = _bool
        lib.SetIntermediateCallback.argtypes = [ctypes.c_void_p, INTERMEDIATE]
        lib.IpoptSolve.restype = _int
        lib.IpoptSolve.argtypes = [ctypes.c_void_p, _doubles, _doubles, _doubles, _doubles,
                                   _doubles, _doubles, ctypes.c_void_p]
    except (OSError, AttributeError):
        return None
    return lib


def _loaded_path():
    """The file of the IPOPT library cyipopt's extension links (its
    DT_NEEDED soname, looked up among the files mapped into this process:
    another IPOPT, such as CasADi's, may be loaded beside it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        from cyipopt import ipopt_wrapper
        with open(ipopt_wrapper.__file__, "rb") as extension:
            names = re.findall(rb"libipopt\.so(?:\.[0-9]+)*", extension.read())
        with open("/proc/self/maps") as maps:
            mapped = [line.split()[-1] for line in maps if "/" in line]
    except (ImportError, AttributeError, OSError):
        return None
    if not names:
        return None
    soname = max(names, key=len).decode()
    for path in mapped:
        if os.path.basename(path).startswith(soname):
            return path
    return None


def _view(pointer, size):
    """IPOPT's array of `size` doubles (or ints) as a NumPy array, no copy."""
    if size == 0:
        return np.zeros(0, np.float64 if pointer._type_ is _double else np.intc)
    return np.ctypeslib.as_array(pointer, (size,))


def solve(problem, x0, options, statuses):
    """Run IPOPT on `problem` (a fastad.ipopt.Problem) from x0 with
    `options`; returns (x, info) as cyipopt does.
    `statuses`: IPOPT's status messages by code (cyipopt's)."""
    lib = library()
    n, m = problem.n, problem.m
    jac_rows, jac_cols = problem.jacobianstructure()
    hess_rows, hess_cols = problem.hessianstructure()
    raised = []

    def guarded(callback):
        def call(*args):
            if raised:
                return 0
            try:
                callback(*args)
                return 1
            except BaseException:  # (stops IPOPT; raised again after it returns)
                raised.append(sys.exc_info()[1])
                return 0
        return call

    def point(x):
        return np.array(_view(x, n))

    def eval_f(_, x, new_x, out, data):
        out[0] = problem.objective(point(x))

    def eval_grad_f(_, x, new_x, out, data):
        _view(out, n)[:] = problem.gradient(point(x))

    def eval_g(_, x, new_x, __, out, data):
        if m:
            _view(out, m)[:] = problem.constraints(point(x))

    def eval_jac_g(_, x, new_x, __, size, rows, cols, values, data):
        if not values:
            _view(rows, size)[:] = jac_rows
            _view(cols, size)[:] = jac_cols
        elif size:
            _view(values, size)[:] = problem.jacobian(point(x))

    def eval_h(_, x, new_x, factor, __, lam, new_lam, size, rows, cols, values, data):
        if not values:
            _view(rows, size)[:] = hess_rows
            _view(cols, size)[:] = hess_cols
        elif size:
            multipliers = np.array(_view(lam, m)) if m else np.zeros(0)
            _view(values, size)[:] = problem.hessian(point(x), multipliers, factor)

    def intermediate(*args):
        if raised:
            return 0
        try:
            return 1 if problem.intermediate(*args[:-1]) is not False else 0
        except BaseException:
            raised.append(sys.exc_info()[1])
            return 0

    # (the callbacks' C thunks must outlive the solve: held here)
    thunks = (EVAL_F(guarded(eval_f)), EVAL_G(guarded(eval_g)),
              EVAL_GRAD_F(guarded(eval_grad_f)), EVAL_JAC_G(guarded(eval_jac_g)),
              EVAL_H(guarded(eval_h)), INTERMEDIATE(intermediate))
    arrays = {name: np.ascontiguousarray(value, np.float64) for name, value in
              (("lb", problem.lb), ("ub", problem.ub), ("cl", problem.cl), ("cu", problem.cu))}

    def pointer(array):
        return array.ctypes.data_as(_doubles)
    handle = lib.CreateIpoptProblem(n, pointer(arrays["lb"]), pointer(arrays["ub"]), m,
                                    pointer(arrays["cl"]), pointer(arrays["cu"]), len(jac_rows),
                                    len(hess_rows), 0, *thunks[:5])
    if not handle:
        raise RuntimeError("IPOPT did not create the problem (%d variables, %d constraints): "
                           "check that lb <= ub and cl <= cu" % (n, m))
    try:
        for key, value in options.items():
            name = str(key).encode()
            if isinstance(value, str):
                ok = lib.AddIpoptStrOption(handle, name, value.encode())
            elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                ok = lib.AddIpoptIntOption(handle, name, int(value))
            elif isinstance(value, (float, np.floating)):
                ok = lib.AddIpoptNumOption(handle, name, float(value))
            else:
                raise TypeError("IPOPT option %r: expected a str, int or float, got %r"
                                % (key, value))
            if not ok:
                raise ValueError("IPOPT rejected the option %r = %r (see its message above)"
                                 % (key, value))
        lib.SetIntermediateCallback(handle, thunks[5])
        x = np.array(x0, np.float64)
        g = np.zeros(m)
        obj = np.zeros(1)
        mult_g, mult_x_l, mult_x_u = np.zeros(m), np.zeros(n), np.zeros(n)
        status = lib.IpoptSolve(handle, pointer(x), pointer(g), pointer(obj), pointer(mult_g),
                                pointer(mult_x_l), pointer(mult_x_u), None)
    finally:
        lib.FreeIpoptProblem(handle)
    if raised:
        raise raised[0]
    info = {"x": x, "g": g, "obj_val": float(obj[0]), "mult_g": mult_g, "mult_x_L": mult_x_l,
            "mult_x_U": mult_x_u, "status": status,
            "status_msg": statuses.get(status, b"IPOPT returned status %d" % status)}
    return x, info
