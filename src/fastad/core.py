"""Reverse-mode differential operators: grad, value_and_grad,
elementwise_grad, vjp, make_vjp.

At top level each call records `fun` onto a fresh tape (the tape of the
compiled core), sweeps it backward once with the numeric sweep and drops it.
Called inside another operator, it records onto that operator's tape and
its sweep is recorded too (sweeps.py), so that the result can be
differentiated again.  These functions only arrange the sweeps: boxing
pytree arguments into traced leaves, checking the output, seeding
cotangents and unboxing the adjoints into the arguments' structure and
dtypes.
"""
import functools
import numbers
import threading

import numpy as np

from . import _tape, sweeps
from .ops.tracing import TRACED as _TRACED
from .tree import describe_structures, flatten, unflatten

Scalar, Array, Tape = _tape.Scalar, _tape.Array, _tape.Tape


# -- arguments ---------------------------------------------------------------

_ARGNUMS = {}  # (argnum or argnums, n_args) -> _normalize_argnum's answer, for valid ones


def _normalize_argnum(argnum, argnums, n_args, opname):
    """Return (tuple of argument indices, whether a single index was given)."""
    given = argnum if argnums is None else argnums
    # (plain ints only: True == 1 and 1.0 == 1 as keys, but they are refused)
    plain = type(given) is int or (type(given) is tuple and all(type(i) is int for i in given))
    if plain:
        answer = _ARGNUMS.get((given, n_args))
        if answer is not None:
            return answer
    answer = _checked_argnum(argnum, argnums, n_args, opname)
    if plain and len(_ARGNUMS) < 1024:
        _ARGNUMS[given, n_args] = answer
    return answer


def _checked_argnum(argnum, argnums, n_args, opname):
    if argnums is not None:
        argnum = argnums
    single = isinstance(argnum, (int, np.integer)) and not isinstance(argnum, bool)
    indices = (argnum,) if single else argnum
    if not isinstance(indices, (tuple, list)) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in indices):
        raise TypeError("%s: argnum must be an int or a tuple of ints, got %r"
                        % (opname, argnum))
    out = []
    for i in indices:
        if not -n_args <= i < n_args:
            raise ValueError(
                "%s: argnum %d is out of range for a function called with %d "
                "positional argument%s" % (opname, i, n_args, "" if n_args == 1 else "s"))
        k = int(i) % n_args
        if k in out:
            # (one traced input per argument: a second one would get no derivative)
            raise ValueError(
                "%s: argnum %r names argument %d more than once; name each argument once "
                "(and reuse its derivative)" % (opname, tuple(indices), k))
        out.append(k)
    return tuple(out), single


def _describe(x):
    if isinstance(x, np.ndarray):
        return "an array of dtype %s" % x.dtype
    if isinstance(x, np.generic):
        return "a NumPy %s scalar" % x.dtype
    return "a value of type %s" % type(x).__name__


def _refuse_subclass(x, what, opname):
    """A TypeError for the ndarray subclasses whose values do not mean what
    their data does (None for the others): a masked array's mask and a
    matrix's operators would be lost on the plain arrays fastad traces."""
    if isinstance(x, np.ma.MaskedArray):
        return TypeError(
            "%s: %s is a numpy.ma.MaskedArray; fastad differentiates plain arrays and would "
            "ignore its mask. Pass x.filled(value) (the masked elements replaced by a value "
            "of your choice) and apply the mask inside the function, e.g. "
            "fastad.numpy.where(keep, x, 0.0) with keep = ~numpy.ma.getmaskarray(x)"
            % (opname, what))
    if isinstance(x, np.matrix):
        return TypeError(
            "%s: %s is a numpy.matrix, whose * and ** are matrix products while fastad "
            "traces it as a 2-d array (elementwise * and **). Pass numpy.asarray(x) and use "
            "@ for matrix products" % (opname, what))
    return None


def _box(tape, leaf, argnum, opname):
    """A traced input node for one leaf of a differentiated argument."""
    if type(leaf) is float or isinstance(leaf, np.float64):
        return tape.scalar_leaf(leaf)
    if isinstance(leaf, np.ndarray):
        if type(leaf) is not np.ndarray:
            error = _refuse_subclass(leaf, "argument %d" % argnum, opname)
            if error is not None:
                raise error
        if leaf.dtype.kind in "fc":
            return tape.array_leaf(leaf)
    elif isinstance(leaf, (np.floating, np.complexfloating, complex)):
        # (complex and non-float64 scalars: 0-d arrays; the C tape is float64)
        return tape.array_leaf(np.asarray(leaf))
    if isinstance(leaf, (bool, np.bool_)) or isinstance(leaf, (numbers.Integral,)) or (
            isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biu"):
        raise TypeError(
            "%s: argument %d holds %s; derivatives are taken with respect to "
            "floating-point inputs. Pass floats (2.0, not 2) or convert with "
            ".astype(float)." % (opname, argnum, _describe(leaf)))
    raise TypeError(
        "%s: argument %d holds %s; expected a float or complex number, a float or "
        "complex array, or a tuple/list/dict of them" % (opname, argnum, _describe(leaf)))


def _unbox_gradient(adjoint, leaf):
    """The gradient of one input leaf, with that leaf's type and dtype."""
    if type(leaf) is float:
        return float(adjoint)
    if type(leaf) is complex:
        return complex(adjoint)
    if isinstance(leaf, np.ndarray):
        return adjoint
    return leaf.dtype.type(adjoint)  # NumPy scalar input: same scalar type


_state = threading.local()


def _active_tapes():
    """This thread's stack of tapes being recorded by running operators."""
    try:
        return _state.tapes
    except AttributeError:
        _state.tapes = []
        return _state.tapes


def _settle(output):
    """Record the pending (fused) arrays among `output`'s leaves: the
    operator's sweeps run over the nodes recorded when the function returns.
    Returns `output`."""
    if type(output) is _tape.Array:
        output.node
    elif type(output) not in (_tape.Scalar, float, np.ndarray):
        for leaf in flatten(output)[0]:
            if type(leaf) is _tape.Array:
                leaf.node
    return output


class _Recording:
    """One run of `fun` with the arguments `argnums` traced.

    At top level it records onto a fresh tape.  Inside another operator (an
    active tape in this thread, or traced arguments) it records onto that
    tape, giving each argument a fresh identity node: its own range of the
    tape starts there, and its backward sweep records onto the tape too, so
    the result can be differentiated again (`nested`)."""

    def __init__(self, fun, args, kwargs, argnums, opname, keep_all=False, guarding=False,
                 kink_guards=False):
        stack = _active_tapes()
        per_arg = [flatten(args[k]) for k in argnums]
        tape = stack[-1] if stack else None
        if tape is None:
            tape = next((leaf.tape for leaves, _ in per_arg for leaf in leaves
                         if type(leaf) in _TRACED), None)
        self.nested = tape is not None
        if tape is None:
            tape = Tape()
            if guarding:
                tape.guarding = True
                tape.kink_guards = kink_guards
                tape.guard_sources = {}
        elif not tape.active:
            raise _tape.TracerError(
                "%s was called on traced values whose differentiation call has "
                "already returned; they escaped the function being differentiated" % opname)
        self.tape = tape
        self.start = len(tape)
        self.inputs = []  # per argnum: (treedef, original leaves, traced leaves)
        boxed_args = list(args)
        for k, (leaves, treedef) in zip(argnums, per_arg):
            boxes = [self._box(leaf, k, opname) for leaf in leaves]
            self.inputs.append((treedef, leaves, boxes))
            boxed_args[k] = unflatten(treedef, boxes)
        outer_keep_all = tape.keep_all
        if self.nested or keep_all:
            # recorded sweeps and forward sweeps read every primal of this range
            tape.keep_all = True
        stack.append(tape)
        try:
            self.output = fun(*boxed_args, **kwargs)
            _settle(self.output)
            # (the end of fun's range: the sweeps of a nested recording
            # record after it, and each sweep covers [start, end) only)
            self.end = len(tape)
        finally:
            stack.pop()
            tape.keep_all = outer_keep_all
            if not self.nested:
                tape.close()  # traced values that escape `fun` can no longer record

    @classmethod
    def adopt(cls, call):
        """The recording `call` (a _tape.ScalarCall) as a _Recording, for
        the general path to finish."""
        self = cls.__new__(cls)
        self.tape, self.nested, self.output = call.tape, call.nested, call.output
        self.start, self.end = call.start, call.end
        leaves, treedef = flatten(call.leaves)
        self.inputs = [(treedef, leaves, call.boxes)]
        return self

    def _box(self, leaf, argnum, opname):
        if type(leaf) in _TRACED:
            if leaf.tape is not self.tape:
                raise _tape.TracerError(
                    "%s: argument %d holds a traced value of another differentiation "
                    "call (kept from an earlier call, or from another thread)" % (opname, argnum))
            return self.tape.identity(leaf)
        return _box(self.tape, leaf, argnum, opname)

    def result(self, value, leaves=None, treedef=None):
        """The function's output as the caller sees it: plain at top level,
        traced (differentiable further) when nested.  (`leaves`, `treedef`:
        value's, where the caller has flattened it.)"""
        if self.nested:
            return value
        if treedef is None:
            leaves, treedef = flatten(value)
        return unflatten(treedef, [plain(leaf) for leaf in leaves])

    def backward(self, seeds, recorded=False):
        """Sweep once from `seeds` [(traced output, cotangent)] and return the
        gradient of every differentiated argument, in its structure.  The
        sweep records (its rules run on traced values) when the recording is
        nested or, `recorded`, when a cotangent is traced by an operator
        called later."""
        flat_inputs = [b for _, _, boxes in self.inputs for b in boxes]
        if not seeds:
            adjoints = [None] * len(flat_inputs)
        elif self.nested:
            # (derivatives that depend on no enclosing value: plain numbers,
            # without recording the sweep where the dry sweep can say so)
            nodes = [b.node for b in flat_inputs]
            adjoints = _tape.dry_reverse(self.tape, self.start, self.end, seeds, nodes)
            if adjoints is None:
                adjoints = _tape.plain_constants(
                    self.tape, self.start,
                    sweeps.reverse(self.tape, self.start, seeds, nodes, end=self.end))
        elif recorded:
            adjoints = sweeps.reverse(self.tape, self.start, seeds, [b.node for b in flat_inputs],
                                      constant_primals=True, end=self.end)
        else:
            adjoints = self.tape.backward(seeds, flat_inputs)
        grads, i = [], 0
        for treedef, leaves, boxes in self.inputs:
            out = []
            for leaf in leaves:
                out.append(self._gradient(adjoints[i], leaf))
                i += 1
            grads.append(unflatten(treedef, out))
        return grads

    @property
    def flat_inputs(self):
        return [b for _, _, boxes in self.inputs for b in boxes]

    def forward(self, seeds, outputs, k=1, batched=False):
        """Tangent sweep from `seeds` [(traced input, tangent)]; the tangents
        of `outputs` (traced outputs only), None where none reaches."""
        if self.nested:
            if batched:
                # each direction seeded where it is nonzero only: an input
                # with a zero tangent is left out of the chain rule, as the
                # numeric sweep leaves out its leaves' (and no nodes are
                # recorded for it)
                per_direction = [self._nested_forward([(x, t[j]) for x, t in seeds
                                                       if _nonzero(t[j])], outputs)
                                 for j in range(k)]
                return [None if all(d[i] is None for d in per_direction) else
                        _stack_traced([d[i] if d[i] is not None else np.zeros(np.shape(o))
                                       for d in per_direction])
                        for i, o in enumerate(outputs)]
            return self._nested_forward(seeds, outputs)
        return self.tape.forward(self.start, seeds, outputs, k, batched)

    def _nested_forward(self, seeds, outputs):
        """The recorded tangent sweep of a nested recording; tangents that
        depend on nothing before it plain (_tape.plain_constants)."""
        tangents = _tape.dry_tangent(self.tape, self.start, self.end, seeds, outputs)
        if tangents is not None:
            return tangents
        tangents = sweeps.forward(self.tape, self.start, seeds, outputs, self.end)
        return _tape.plain_constants(self.tape, self.start, tangents)

    def _gradient(self, adjoint, leaf):
        if adjoint is None:
            adjoint = np.zeros(np.shape(leaf), _dtype_of(leaf))
        if type(adjoint) in _TRACED:
            return adjoint
        if type(leaf) is Scalar:
            return float(adjoint)
        if type(leaf) is Array:
            return np.asarray(adjoint, leaf.dtype)
        return _unbox_gradient(adjoint, leaf)


def _nonzero(t):
    """Whether a tangent may be nonzero: traced ones are taken to be."""
    return type(t) in _TRACED or bool(np.any(t))


def _stack_traced(parts):
    from .ops.shape import stack
    return stack(parts)


def _dtype_of(leaf):
    return leaf.dtype if hasattr(leaf, "dtype") else np.dtype(np.float64)


def plain(x):
    """The primal value of a traced leaf; other values unchanged."""
    t = type(x)
    if t is Scalar:
        return x.value
    if t is Array:
        v = x.value
        return v[()] if v.ndim == 0 else v
    return x


def _scalar_output(out, opname, holomorphic=False):
    """Check that `out` is a scalar; return it if traced, None if constant.
    Its dtype is real, or complex with `holomorphic` (JAX's rule)."""
    t = type(out)
    if t is Scalar:
        if holomorphic:
            raise _holomorphic_error(opname, "outputs", np.dtype(np.float64))
        return out
    if t is Array:
        _check_output_dtype(out.dtype, opname, holomorphic)
        if out.size == 1:  # (a size-1 array counts as a scalar, as in autograd)
            return out
        shape = out.shape
    elif isinstance(out, (float, int, np.floating, np.integer, complex, np.complexfloating)) \
            and not isinstance(out, bool):
        _check_output_dtype(np.result_type(out), opname, holomorphic)
        return None
    elif isinstance(out, np.ndarray) and out.dtype.kind in "fiuc":
        _check_output_dtype(out.dtype, opname, holomorphic)
        if out.size == 1:
            return None
        shape = out.shape
    else:
        raise TypeError(
            "%s requires a function returning a float scalar, but it returned %s"
            % (opname, _describe(out)))
    raise TypeError(
        "%s requires a scalar output, but the function returned an array of shape "
        "%s. Use fastad.jacobian or fastad.elementwise_grad for non-scalar outputs."
        % (opname, shape))


def _check_output_dtype(dtype, opname, holomorphic):
    if holomorphic and dtype.kind != "c":
        raise _holomorphic_error(opname, "outputs", dtype)
    if not holomorphic and dtype.kind == "c":
        raise TypeError(
            "%s requires real-valued outputs, but the function returned %s. For a "
            "holomorphic function pass holomorphic=True; for the derivative of a "
            "non-holomorphic function with complex outputs use fastad.vjp" % (opname, dtype))


def _holomorphic_error(opname, what, dtype):
    return TypeError("%s(..., holomorphic=True) requires %s with complex dtype, got %s"
                     % (opname, what, dtype))


def _check_holomorphic_inputs(args, indices, opname):
    for i in indices:
        for leaf in flatten(args[i])[0]:
            dtype = np.result_type(leaf)
            if dtype.kind != "c":
                raise _holomorphic_error(opname, "inputs", dtype)


def _pick(grads, single):
    return grads[0] if single else tuple(grads)


# -- operators ---------------------------------------------------------------

class _Aux:
    """`fun` for has_aux=True (JAX's convention): it returns (output, aux);
    the wrapper returns the output and keeps aux for the operator."""

    def __init__(self, fun, opname):
        self.fun, self.opname, self.aux = fun, opname, None

    def __call__(self, *args, **kwargs):
        out = self.fun(*args, **kwargs)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError("%s(..., has_aux=True) requires the function to return a pair "
                            "(output, auxiliary data), but it returned %s"
                            % (self.opname, _describe(out)))
        self.aux = out[1]
        return out[0]


def _seed(out):
    """The unit cotangent of a scalar output (a size-1 array too, as in autograd)."""
    return 1.0 if type(out) is Scalar or out.ndim == 0 else np.ones(out.shape, out.dtype)


def value_and_grad(fun, argnum=0, *, argnums=None, has_aux=False, holomorphic=False):
    """Return a function computing `(fun(*args), gradient)` in one pass.

    The gradient is taken with respect to argument `argnum` (an int, or a
    tuple of ints for a tuple of gradients) and has that argument's pytree
    structure and dtypes.  This is the form `scipy.optimize.minimize(...,
    jac=True)` takes.  With `has_aux`, `fun` returns `(output, aux)` and
    the result is `((value, aux), gradient)`, as in JAX.

    >>> fastad.value_and_grad(lambda x: x ** 2)(3.0)
    (9.0, 6.0)
    >>> fastad.value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
    (5.0, array([2., 4.]))
    """
    @functools.wraps(fun)
    def value_and_grad_fun(*args, **kwargs):
        indices, single = _normalize_argnum(argnum, argnums, len(args), "value_and_grad")
        if holomorphic:
            _check_holomorphic_inputs(args, indices, "value_and_grad")
        call = _Aux(fun, "value_and_grad") if has_aux else fun
        rec = _Recording(call, args, kwargs, indices, "value_and_grad")
        out = _scalar_output(rec.output, "value_and_grad", holomorphic)
        grads = _pick(rec.backward([(out, _seed(out))] if out is not None else []), single)
        if has_aux:
            return (rec.result(rec.output), rec.result(call.aux)), grads
        return rec.result(rec.output), grads
    return value_and_grad_fun


def grad(fun, argnum=0, *, argnums=None, has_aux=False, holomorphic=False):
    """Return a function computing the gradient of scalar `fun` with respect
    to argument `argnum` (int or tuple of ints), in that argument's pytree
    structure and dtype.  With `has_aux`, `fun` returns `(output, aux)` and
    the result is `(gradient, aux)`, as in JAX.

    Complex inputs follow JAX's and autograd's convention: the gradient of a
    real-valued `fun` of complex z is df/dx - i df/dy (of abs(z)**2 at 3+4j,
    6-8j).  A complex output needs `holomorphic=True`, which gives f'(z).

    >>> fastad.grad(lambda x, y: x * y)(2.0, 5.0)
    5.0
    >>> fastad.grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 5.0)
    (5.0, 2.0)
    >>> fastad.grad(lambda p: p["w"] * p["b"])({"w": 2.0, "b": 3.0})
    {'w': 3.0, 'b': 2.0}
    >>> fastad.grad(lambda z: np.abs(z) ** 2)(3 + 4j), fastad.grad(np.sin, holomorphic=True)(0j)
    ((6.000000000000001-8j), (1+0j))
    """
    # (a scalar or a flat list or tuple of them as argument `scalar_index`:
    # recorded and swept in C, _core/operator.pxi)
    scalar_index = (argnum if argnums is None and type(argnum) is int and argnum >= 0
                    and not (has_aux or holomorphic) else -1)

    @functools.wraps(fun)
    def grad_fun(*args, **kwargs):
        rec = None
        if scalar_index >= 0:
            grads = _tape.scalar_operator(False, fun, args, scalar_index, kwargs,
                                          _active_tapes(), _settle)
            if grads is not None:
                if type(grads) is not _tape.ScalarCall:
                    return grads
                rec = _Recording.adopt(grads)
        indices, single = _normalize_argnum(argnum, argnums, len(args), "grad")
        if holomorphic:
            _check_holomorphic_inputs(args, indices, "grad")
        call = _Aux(fun, "grad") if has_aux else fun
        if rec is None:
            rec = _Recording(call, args, kwargs, indices, "grad")
        out = _scalar_output(rec.output, "grad", holomorphic)
        grads = _pick(rec.backward([(out, _seed(out))] if out is not None else []), single)
        return (grads, rec.result(call.aux)) if has_aux else grads
    return grad_fun


def _output_vjp(rec, opname):
    """Flatten the recorded output; return (plain output, vjp function)."""
    out_leaves, out_treedef = flatten(rec.output)
    for leaf in out_leaves:
        if type(leaf) not in _TRACED and not isinstance(leaf, (numbers.Number, np.ndarray, np.generic)):
            raise TypeError("%s: the function returned %s; expected floats, float "
                            "arrays or pytrees of them" % (opname, _describe(leaf)))
    plain_out = rec.result(rec.output)

    def vjp_fun(cotangent):
        co_leaves, co_treedef = flatten(cotangent)
        if co_treedef != out_treedef:
            raise ValueError(
                "%s: the cotangent has structure %s but the function's output has "
                "structure %s" % ((opname,) + describe_structures(co_treedef, out_treedef)))
        seeds = []
        recorded = False
        for i, (o, c) in enumerate(zip(out_leaves, co_leaves)):
            if isinstance(c, np.ndarray) and type(c) is not np.ndarray:
                error = _refuse_subclass(c, "cotangent %d" % i, opname)
                if error is not None:
                    raise error
            if np.shape(c) != np.shape(o):
                raise ValueError(
                    "%s: cotangent %d has shape %s but the output it pairs with has "
                    "shape %s" % (opname, i, np.shape(c), np.shape(o)))
            if type(c) in _TRACED:
                if rec.nested and c.tape is not rec.tape:
                    raise NotImplementedError(
                        "%s: a traced cotangent of another differentiation call than the "
                        "one this VJP was taken in" % opname)
                # (a VJP function made outside any trace, given a traced cotangent,
                # sweeps with the rules so that the cotangent's operator records it)
                recorded = True
                if type(o) in _TRACED:  # (an output that depends on no input adds nothing)
                    seeds.append((o, c))
                continue
            c_dtype = np.result_type(c)
            complex_output = np.result_type(o).kind == "c"
            if c_dtype.kind not in ("fiuc" if complex_output else "fiu"):
                raise TypeError("%s: cotangent %d has dtype %s; expected a %s"
                                % (opname, i, c_dtype, "float or complex" if complex_output
                                   else "float (the output is real)"))
            if type(o) is Scalar:
                seeds.append((o, float(c)))
            elif type(o) is Array:
                seeds.append((o, np.asarray(c, dtype=o.dtype)))
        return rec.backward(seeds, recorded)

    return plain_out, vjp_fun


def vjp(fun, *primals, has_aux=False):
    """JAX-style VJP: return `(fun(*primals), vjp_fun)` where `vjp_fun(ct)`
    returns the tuple of cotangents, one per primal, each with that
    primal's structure.  `ct` has the structure and shapes of the output.
    With `has_aux`, `fun` returns `(output, aux)` and the result is
    `(output, vjp_fun, aux)`.

    >>> out, vjp_fun = fastad.vjp(lambda x, y: x * y, 2.0, 3.0)
    >>> out, vjp_fun(1.0)
    (6.0, (3.0, 2.0))
    >>> fastad.vjp(lambda x: x ** 2, np.array([1.0, 2.0]))[1](np.array([1.0, 10.0]))
    (array([ 2., 40.]),)
    """
    argnums = tuple(range(len(primals)))
    call = _Aux(fun, "vjp") if has_aux else fun
    rec = _Recording(call, primals, {}, argnums, "vjp")
    out, vjp_all = _output_vjp(rec, "vjp")
    vjp_fun = lambda cotangent: tuple(vjp_all(cotangent))  # noqa: E731
    return (out, vjp_fun, rec.result(call.aux)) if has_aux else (out, vjp_fun)


def make_vjp(fun, argnum=0, *, argnums=None):
    """autograd-style VJP: `make_vjp(fun, argnum)(*args)` returns
    `(vjp_fun, fun(*args))`; `vjp_fun(ct)` is the cotangent of argument
    `argnum` (a tuple of them for a tuple of argnums).

    >>> vjp_fun, out = fastad.make_vjp(lambda x: x ** 2)(np.array([1.0, 2.0]))
    >>> out, vjp_fun(np.array([1.0, 10.0]))
    (array([1., 4.]), array([ 2., 40.]))
    >>> fastad.make_vjp(lambda x, y: x * y, argnum=(0, 1))(2.0, 3.0)[0](1.0)
    (3.0, 2.0)
    """
    def make(*args, **kwargs):
        indices, single = _normalize_argnum(argnum, argnums, len(args), "make_vjp")
        rec = _Recording(fun, args, kwargs, indices, "make_vjp")
        out, vjp_all = _output_vjp(rec, "make_vjp")
        return (lambda cotangent: _pick(vjp_all(cotangent), single)), out
    return make


def holomorphic_grad(fun, argnum=0, *, argnums=None):
    """autograd's `holomorphic_grad`: the complex derivative f'(z) of a
    holomorphic `fun` of complex inputs, `grad(fun, holomorphic=True)`.

    >>> fastad.holomorphic_grad(lambda z: z ** 3)(1j)
    (-3+0j)
    """
    return grad(fun, argnum, argnums=argnums, holomorphic=True)


def elementwise_grad(fun, argnum=0, *, argnums=None):
    """Return a function computing the sum of each column of the Jacobian
    of `fun` (the VJP with a cotangent of ones), in one reverse pass, in the
    structure of argument `argnum`: for an elementwise `fun`, its derivative
    at every element.

    >>> fastad.elementwise_grad(fastad.numpy.sin)(np.zeros(3))
    array([1., 1., 1.])
    >>> fastad.elementwise_grad(lambda x: x ** 2)(np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    """
    @functools.wraps(fun)
    def elementwise_grad_fun(*args, **kwargs):
        indices, single = _normalize_argnum(argnum, argnums, len(args), "elementwise_grad")
        rec = _Recording(fun, args, kwargs, indices, "elementwise_grad")
        out, vjp_all = _output_vjp(rec, "elementwise_grad")
        ones = [np.ones(np.shape(o), _dtype_of(o)) if np.ndim(o) else 1.0
                for o in flatten(out)[0]]
        return _pick(vjp_all(unflatten(flatten(out)[1], ones)), single)
    return elementwise_grad_fun
