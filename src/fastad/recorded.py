"""Recorded tapes: a function recorded once, replayed at new inputs without
running its Python code.

    tape = fastad.record(f, x0)
    tape(x)              # f(x)
    tape.gradient(x)     # grad f(x): primal replay + reverse sweep
    tape.hvp(x, v)       # Hessian-vector product

Replay re-evaluates the recorded operations (scalar ones in C with the GIL
released, array ones by their NumPy functions) and sweeps them.  Every
decision the function made on traced values while it was recorded — a
comparison steering an `if`, the condition of a `where`, the result of
`sign` or `argmax` — is stored with its outcome, and replay checks it: where
one comes out differently the function might take another path, and replay
raises `RetapeRequired` naming the operation and the line of the user's code
that made it (or re-records, with `retape=True`).
"""
import functools
import threading

import numpy as np

from . import _tape
from .core import _Recording, _describe, _dtype_of, _refuse_subclass, plain
from .ops.tracing import TRACED as _TRACED
from .mapping import tape_map
from . import sparsity
from .tree import TreeDef, flatten, tree_map, unflatten

Scalar, Array = _tape.Scalar, _tape.Array
RetapeRequired = _tape.RetapeRequired

#: version of the pickled form; loading checks it (2: an explicit state, with a
#: digest; 3: with the sparsity plans, `sparse`; 2 still loads, without them)
FORMAT_VERSION = 3


def record(fun, *example_args, retape=False, guard_kinks=True):
    """Record `fun` at `example_args` into a `Tape` that replays it at new
    arguments of the same structure, shapes and dtypes.

    Every decision the function makes on traced values is kept with its
    outcome and checked at replay: comparisons (an `if`, a `where`
    condition), `sign`, `argmax`, and — with `guard_kinks=True`, the
    default — the branch taken by each piecewise function: `abs`, `fabs`,
    `maximum`, `minimum`, `fmax`, `fmin`, `clip`, `relu`, and which
    elements `max`/`min` pick.  Where one comes out differently, replay
    raises `RetapeRequired` naming the operation and the line of the
    function that made it.  `guard_kinks=False` drops the piecewise
    functions' guards: their derivatives are then recomputed from the new
    values at each replay, which is exact (what `fastad.optimize` does).

    With `retape=True`, replaying where a recorded decision flips records
    the function again at the new arguments instead of raising
    `RetapeRequired`.

    >>> tape = fastad.record(lambda x: abs(x) * 2.0, 1.5)
    >>> tape.gradient(3.0)
    2.0
    >>> tape.gradient(-1.0)  # abs takes its other branch
    Traceback (most recent call last):
    ...
    fastad._tape.RetapeRequired: 'abs' recorded at ... takes another branch at these inputs ...
    >>> fastad.record(lambda x: abs(x) * 2.0, 1.5, retape=True).gradient(-1.0)
    -2.0
    """
    return Tape(fun, example_args, retape, guard_kinks)


def _serialized(method):
    """Run `method` holding the tape's lock: a replay leaves its primals on
    the tape for the sweep that follows, and a retape replaces the tape, so
    one recorded tape used from several threads runs one call at a time (the
    GIL is still released inside the sweeps)."""
    @functools.wraps(method)
    def serialized(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)
    return serialized


class Tape:
    """A recorded function (see `record`): calling it returns the
    function's value, and its methods its derivatives, each by replaying
    the recorded operations without running the function's Python code.
    `len(tape)` is the number of recorded operations.

    >>> tape = fastad.record(lambda x: np.sum(x ** 2), np.ones(3))
    >>> tape(np.array([1.0, 2.0, 3.0]))
    14.0
    >>> tape.gradient(np.array([1.0, 2.0, 3.0]))
    array([2., 4., 6.])
    >>> len(tape)  # (x ** 2 and its sum: one fused program)
    1
    """

    def __init__(self, fun, args, retape=False, guard_kinks=True):
        self._lock = threading.RLock()
        self.fun = fun
        self.retape = retape
        self.guard_kinks = guard_kinks
        self._grad_tape = None
        self._record(tuple(args))

    # -- recording and loading inputs ------------------------------------------

    def _record(self, args):
        if self.fun is None:
            raise RetapeRequired(
                "this tape was unpickled without its function (it did not pickle), so it "
                "cannot be recorded again; pickle a module-level function to allow it")
        if not args:
            raise TypeError("record needs at least one example argument")
        rec = _Recording(self.fun, args, {}, tuple(range(len(args))), "record",
                         keep_all=True, guarding=True,
                         kink_guards=getattr(self, "guard_kinks", True))
        if rec.nested:
            raise NotImplementedError(
                "record was called inside another fastad operator; record at top level")
        self._rec = rec
        self._tape = rec.tape
        self._structure = [(treedef, [_leaf_spec(leaf) for leaf in leaves])
                           for treedef, leaves, _ in rec.inputs]
        self._out_leaves, self._out_treedef = flatten(rec.output)
        for leaf in self._out_leaves:
            if type(leaf) not in _TRACED and not isinstance(leaf, (float, int, np.ndarray, np.generic)):
                raise TypeError("record: the function returned %s; expected floats, float "
                                "arrays or pytrees of them" % _describe(leaf))
        self._grad_tape = None
        self._sparse = {}  # (sparsity: patterns, colourings, recorded gradients)
        self._sparse_seeds = {}  # (sparsity: what each plan's sweeps reuse, by plan)
        self._flat_inputs = rec.flat_inputs
        self._loaded = None  # the inputs of the last replay (see _load)
        # the common case, one array argument, is checked without flattening
        treedef, specs = self._structure[0]
        self._single_array = (specs[0] if len(self._structure) == 1 and treedef.kind == "leaf"
                              and specs[0][0] == "array" and specs[0][3] is np.ndarray else None)
        out = self._out_leaves[0] if len(self._out_leaves) == 1 else None
        self._scalar_node = out.node if type(out) is Scalar else None
        # every argument one Python float (a scalar model's parameters)
        self._all_floats = all(treedef.kind == "leaf" and specs[0][0] == "scalar"
                               and specs[0][3] is float for treedef, specs in self._structure)

    def _values(self, args):
        """The input leaves' values at `args`, checked against the recording."""
        spec = self._single_array
        if spec is not None and len(args) == 1:
            x = args[0]
            if type(x) is np.ndarray and x.shape == spec[1] and x.dtype == spec[2]:
                return [x]
        if len(args) != len(self._structure):
            raise TypeError("the tape was recorded with %d arguments, called with %d"
                            % (len(self._structure), len(args)))
        values = []
        for k, (arg, (treedef, specs)) in enumerate(zip(args, self._structure)):
            leaves, arg_treedef = flatten(arg)
            if arg_treedef != treedef:
                raise ValueError("argument %d has structure %r, but the tape was recorded with %r"
                                 % (k, arg_treedef, treedef))
            for i, (leaf, spec) in enumerate(zip(leaves, specs)):
                values.append(_check_leaf(leaf, spec, k, i))
        return values

    def _load(self, args):
        """Replay the primal computation at `args` (re-recording if allowed).
        The tape keeps the primals of the last replay: at the same inputs,
        bit for bit (an optimizer asking for several Hessian-vector products
        at one point), nothing is replayed."""
        values = self._values(args)
        if self._loaded is not None and _same_bits(values, self._loaded):
            return
        self._loaded = None
        # the tape keeps its own copies: the caller may change its arrays later
        values = [v.copy() if isinstance(v, np.ndarray) else v for v in values]
        try:
            self._tape.replay(self._flat_inputs, values)
        except RetapeRequired:
            if not self.retape:
                raise
            self._record(tuple(args))
            return
        self._loaded = values

    # -- evaluation ---------------------------------------------------------------

    def _outputs(self):
        out = []
        for leaf in self._out_leaves:
            if type(leaf) is Scalar:
                out.append(self._tape.box(leaf.node).value)
            elif type(leaf) is Array:
                out.append(plain(self._tape.box(leaf.node)))
            else:
                out.append(leaf)
        return unflatten(self._out_treedef, out)

    @_serialized
    def __call__(self, *args):
        """The function's value at `args`, by replay."""
        self._load(args)
        return self._outputs()

    def _scalar_output(self, opname):
        if len(self._out_leaves) != 1 or np.ndim(self._out_leaves[0]) != 0:
            raise TypeError("%s requires a function with one scalar output; this tape's output "
                            "has structure %r" % (opname, self._out_treedef))
        return self._out_leaves[0]

    def _gradients(self, seeds):
        boxes = self._rec.flat_inputs
        adjoints = self._tape.backward(seeds, boxes) if seeds else [None] * len(boxes)
        return self._structured(adjoints)

    def _structured(self, adjoints):
        """The input leaves' adjoints in the arguments' structures."""
        grads, i = [], 0
        for (treedef, leaves, _) in self._rec.inputs:
            out = []
            for spec in self._structure[len(grads)][1]:
                adjoint = adjoints[i]
                if adjoint is None:
                    adjoint = np.zeros(spec[1], spec[2])
                out.append(_as_spec(adjoint, spec))
                i += 1
            grads.append(unflatten(treedef, out))
        return grads[0] if len(grads) == 1 else tuple(grads)

    @_serialized
    def value_and_grad(self, *args):
        """`(value, gradient)` at `args` by replay: the gradient with respect
        to every argument (a tuple when there are several), each in its
        argument's structure.  The function's output must be one scalar.

        >>> tape = fastad.record(lambda x, y: x * y + np.sin(x), 1.0, 2.0)
        >>> tape.value_and_grad(0.0, 3.0)
        (0.0, (4.0, 0.0))
        """
        node = self._scalar_node
        if node is not None:
            # one traced scalar out: straight to the sweeps
            if self._all_floats and len(args) == len(self._structure) and all(
                    type(a) is float for a in args):
                values = list(args)
            else:
                values = self._values(args)
            self._loaded = None
            try:
                value, adjoints = self._tape.value_and_gradient(self._flat_inputs, values, node)
            except RetapeRequired:
                if not self.retape:
                    raise
                self._record(tuple(args))
                return self.value_and_grad(*args)
            if self._single_array is not None or self._all_floats:
                return value, adjoints[0] if len(adjoints) == 1 else tuple(adjoints)
            return value, self._structured(adjoints)
        self._load(args)
        out = self._scalar_output("value_and_grad")
        value = self._outputs()
        seeds = [(self._tape.box(out.node), 1.0)] if type(out) in _TRACED else []
        return value, self._gradients(seeds)

    def gradient(self, *args):
        """The gradient at `args` by replay: `value_and_grad(*args)[1]`.

        >>> tape = fastad.record(lambda x: np.sum(x ** 2), np.ones(3))
        >>> tape.gradient(np.array([1.0, 2.0, 3.0]))
        array([2., 4., 6.])
        """
        return self.value_and_grad(*args)[1]  # (which holds the lock)

    def _args_tuple(self, x):
        return tuple(x) if len(self._structure) > 1 else (x,)

    @_serialized
    def vjp(self, x, cotangent):
        """`(value, cotangent of the arguments)` at `x` (a tuple of the
        arguments when the function has several) for the output `cotangent`,
        which has the output's structure and shapes: replay and one reverse
        sweep.

        >>> tape = fastad.record(lambda x: x ** 2, np.ones(3))
        >>> tape.vjp(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 2.0]))
        (array([1., 4., 9.]), array([ 2.,  0., 12.]))
        """
        self._load(self._args_tuple(x))
        co_leaves, co_treedef = flatten(cotangent)
        if co_treedef != self._out_treedef:
            raise ValueError("vjp: the cotangent has structure %r but the output %r"
                             % (co_treedef, self._out_treedef))
        seeds = []
        for o, c in zip(self._out_leaves, co_leaves):
            if np.shape(c) != np.shape(o):
                raise ValueError("vjp: a cotangent has shape %s but its output has shape %s"
                                 % (np.shape(c), np.shape(o)))
            if type(o) is Scalar:
                seeds.append((self._tape.box(o.node), float(c)))
            elif type(o) is Array:
                seeds.append((self._tape.box(o.node), np.asarray(c, o.dtype)))
        return self._outputs(), self._gradients(seeds)

    @_serialized
    def jvp(self, x, tangent):
        """`(value, J tangent)` at `x` by replay and one tangent sweep; `x`
        and `tangent` are tuples of the arguments when the function has
        several.

        >>> tape = fastad.record(lambda x: x ** 2, np.ones(3))
        >>> tape.jvp(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0]))
        (array([1., 4., 9.]), array([2., 4., 0.]))
        """
        tangent_out = self._tangent(x, tangent)
        return self._outputs(), tangent_out

    def _tangent(self, x, tangent):
        """J tangent at `x` (the output's tangent, in its structure)."""
        args = self._args_tuple(x)
        self._load(args)
        spec = self._single_array
        if (spec is not None and type(tangent) is np.ndarray and tangent.shape == spec[1]
                and len(self._out_leaves) == 1 and type(self._out_leaves[0]) is Array):
            # one array in, one traced array out (a recorded gradient's hvp)
            found = self._tape.forward(0, [(self._flat_inputs[0], tangent.astype(spec[2], copy=False))],
                                       [self._tape.box(self._out_leaves[0].node)])[0]
            if found is None:
                found = np.zeros(np.shape(self._out_leaves[0]), _dtype_of(self._out_leaves[0]))
            return found
        tangents = self._args_tuple(tangent)
        seeds = []
        for box, t in zip(self._rec.flat_inputs, [leaf for t in tangents for leaf in flatten(t)[0]]):
            if np.shape(t) != np.shape(box):
                raise ValueError("jvp: a tangent has shape %s but its argument has shape %s"
                                 % (np.shape(t), np.shape(box)))
            seeds.append((box, float(t) if type(box) is Scalar else np.asarray(t, box.dtype)))
        traced = [self._tape.box(o.node) for o in self._out_leaves if type(o) in _TRACED]
        found = self._tape.forward(0, seeds, traced) if traced else []
        result, j = [], 0
        for o in self._out_leaves:
            t = None
            if type(o) in _TRACED:
                t = found[j]
                j += 1
            if t is None:
                t = np.zeros(np.shape(o), _dtype_of(o)) if np.ndim(o) else 0.0
            result.append(t)
        return unflatten(self._out_treedef, result)

    @_serialized
    def jacobian(self, *args, argnum=0):
        """The Jacobian of the (single-array) output with respect to argument
        `argnum` (the others held as parameters), shape out.shape + in.shape,
        by one forward sweep carrying a direction per input element.

        >>> tape = fastad.record(lambda x: x ** 2, np.ones(3))
        >>> tape.jacobian(np.array([1.0, 2.0, 3.0]))
        array([[2., 0., 0.],
               [0., 4., 0.],
               [0., 0., 6.]])
        """
        argnum = sparsity.argument_index(self, argnum, "jacobian")
        self._load(args)
        if len(self._out_leaves) != 1:
            raise TypeError("jacobian requires a function with one output")
        (out,) = self._out_leaves
        treedef, leaves, boxes = self._rec.inputs[argnum]
        out_shape = tuple(np.shape(out))
        if type(out) not in _TRACED:
            return unflatten(treedef, [np.zeros(out_shape + np.shape(b)) for b in boxes])
        from .forward import _basis, _split_columns
        seeds, k = _basis(boxes)
        (columns,) = self._tape.forward(0, list(zip(boxes, seeds)), [self._tape.box(out.node)],
                                        k, True)
        if columns is None:
            columns = np.zeros((k,) + out_shape)
        return _split_columns(columns, out_shape, [b.value for b in boxes], treedef)

    def _gradient_tape(self, args):
        from .core import grad
        self._values(args)  # (the arguments this tape was recorded with, first)
        if self._grad_tape is None:
            if self.fun is None:
                # (a recorded gradient travels with a pickled tape only beside a
                # function that pickles too: see __getstate__)
                raise RetapeRequired(
                    "hvp and hessian record the gradient of the function on first use, but "
                    "this tape was unpickled without its function (it did not pickle, as a "
                    "lambda or a function defined inside another does not). Pickle the tape "
                    "of a function importable by name (a def at the top level of a module), "
                    "or record the function again in this process with fastad.record")
            argnums = tuple(range(len(self._structure)))
            fun = grad(self.fun, argnums if len(argnums) > 1 else 0)
            self._grad_tape = Tape(fun, args, self.retape, getattr(self, "guard_kinks", True))
        return self._grad_tape

    @_serialized
    def hvp(self, x, v, argnum=None):
        """H(x) v, the Hessian of the scalar function at `x` times `v`, by
        forward-over-reverse on a recorded gradient (recorded on first use,
        then replayed); `x` and `v` are tuples of the arguments when the
        function has several.  With `argnum`, the Hessian with respect to
        that argument alone (a float or an array), the others held as
        parameters: `x` holds every argument, `v` that one's direction.

        >>> tape = fastad.record(lambda x: np.sum(x ** 3), np.ones(2))
        >>> tape.hvp(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
        array([ 6., 12.])
        >>> lagrangian = fastad.record(lambda x, lam: lam * np.sum(x ** 3), np.ones(2), 1.0)
        >>> lagrangian.hvp((np.array([1.0, 2.0]), 0.5), np.array([1.0, 1.0]), argnum=0)
        array([3., 6.])
        """
        if argnum is None or len(self._structure) == 1:
            if argnum is not None:
                sparsity.argument_index(self, argnum, "hvp")
            return self._gradient_tape(self._args_tuple(x))._tangent(x, v)
        argnum = sparsity.argument_index(self, argnum, "hvp")
        args = self._args_tuple(x)
        _, gradient = sparsity._gradient_tape(self, argnum, "hvp")
        zero = lambda leaf: np.zeros_like(leaf) if np.ndim(leaf) else 0.0  # noqa: E731
        directions = tuple(v if k == argnum else tree_map(zero, arg) for k, arg in enumerate(args))
        return gradient._tangent(args, directions)

    @_serialized
    def hessian(self, *args, argnum=0):
        """The dense Hessian at `args` with respect to argument `argnum` (a
        float or an array; the others held as parameters, as the multipliers
        of a Lagrangian), shape x.shape + x.shape, by a forward sweep over
        the recorded gradient (recorded on first use).  A single argument
        may be a pytree of one leaf; a pytree of several leaves raises
        TypeError (its gradient has several outputs): use `hvp` for those.

        >>> tape = fastad.record(lambda x: np.sum(x ** 3), np.ones(2))
        >>> tape.hessian(np.array([1.0, 2.0]))
        array([[ 6.,  0.],
               [ 0., 12.]])
        >>> lagrangian = fastad.record(lambda x, lam: lam * np.sum(x ** 3), np.ones(2), 1.0)
        >>> lagrangian.hessian(np.array([1.0, 2.0]), 0.5)
        array([[3., 0.],
               [0., 6.]])
        """
        argnum = sparsity.argument_index(self, argnum, "hessian")
        if len(self._structure) == 1:
            return self._gradient_tape(args).jacobian(*args)
        self._values(args)  # (the arguments this tape was recorded with, first)
        _, gradient = sparsity._gradient_tape(self, argnum, "hessian")
        return gradient.jacobian(*args, argnum=argnum)

    @_serialized
    def map(self, method, *stacked_args, retape=None):
        """`method` ("__call__", "gradient", "value_and_grad", "jacobian",
        "hessian", "jvp", "vjp" or "hvp", or the bound method) evaluated at
        every point of `stacked_args` — the method's arguments, each leaf
        with a leading batch axis — and the results stacked along a new first
        axis.  A point where a recorded decision comes out differently is
        evaluated on a tape recorded there when `retape` (default: the
        tape's own setting) is true; otherwise `RetapeRequired` names the
        point.  The tape itself stays the one recorded.

        >>> tape = fastad.record(lambda x, y: x * y ** 2, 1.0, 1.0)
        >>> tape.map("gradient", np.array([1.0, 2.0]), np.array([3.0, 4.0]))
        (array([ 9., 16.]), array([ 6., 16.]))
        """
        return tape_map(self, method, stacked_args, self.retape if retape is None else retape)

    # -- sparse derivatives ------------------------------------------------------------

    def jacobian_sparsity(self, argnum=0):
        """The structural pattern of the Jacobian of the (one) output with
        respect to argument `argnum` (a float or an array) on this tape: a
        boolean `scipy.sparse.coo_array` of shape (output size, argument
        size), exact for every input that replays without a guard flipping
        (see `fastad.sparsity`).

        >>> tape = fastad.record(lambda x: x[1:] * x[:-1], np.ones(3))
        >>> tape.jacobian_sparsity().toarray()
        array([[ True,  True, False],
               [False,  True,  True]])
        """
        with self._lock:
            return sparsity.tape_jacobian_sparsity(self, argnum)

    def hessian_sparsity(self, argnum=0):
        """The structural pattern of the Hessian of the scalar output with
        respect to argument `argnum`, the others held as parameters: a
        symmetric boolean `scipy.sparse.coo_array` (from the recorded
        gradient, recorded on first use).

        >>> tape = fastad.record(lambda x: np.sum(x[1:] * x[:-1]), np.ones(3))
        >>> tape.hessian_sparsity().toarray()
        array([[False,  True, False],
               [ True, False,  True],
               [False,  True, False]])
        """
        with self._lock:
            return sparsity.tape_hessian_sparsity(self, argnum)

    @_serialized
    def sparse_jacobian(self, *args, argnum=0, out=None, format="coo"):
        """The Jacobian of the output with respect to argument `argnum` at
        `args` (the tape's arguments) as a `scipy.sparse.coo_array` on the
        pattern's coordinates (row-major, explicit zeros kept, the same at
        every call; `format="csr"` or `"csc"` for those), by one forward
        sweep per colour of its columns.  `out`, a result of an earlier
        call, has its `.data` refilled in place.

        >>> tape = fastad.record(lambda x: x[1:] * x[:-1], np.ones(3))
        >>> tape.sparse_jacobian(np.array([1.0, 2.0, 3.0])).toarray()
        array([[2., 1., 0.],
               [0., 3., 2.]])
        """
        return sparsity.tape_sparse_jacobian(self, args, argnum, out, format)

    @_serialized
    def sparse_hessian(self, *args, argnum=0, triangle="both", out=None, format="coo"):
        """The Hessian of the scalar output with respect to argument
        `argnum` at `args` (the tape's arguments: the others are held as
        parameters, as the multipliers of a Lagrangian `L(x, lam, sigma)`)
        as a `scipy.sparse.coo_array`, by one forward-over-reverse sweep per
        colour over the recorded gradient.  `triangle="lower"` keeps the
        entries with row >= column (what IPOPT takes); `out` and `format`
        as in `sparse_jacobian`.

        >>> tape = fastad.record(lambda x, lam: lam * np.sum(x[1:] * x[:-1] ** 2), np.ones(3), 1.0)
        >>> tape.sparse_hessian(np.array([1.0, 2.0, 3.0]), 0.5, triangle="lower").toarray()
        array([[2., 0., 0.],
               [1., 3., 0.],
               [0., 2., 0.]])
        """
        return sparsity.tape_sparse_hessian(self, args, argnum, triangle, out, format)

    # -- inspection -----------------------------------------------------------------

    def __len__(self):
        """The number of recorded operations (inputs excluded)."""
        return len(self._tape) - len(self._rec.flat_inputs)

    @property
    def nbytes(self):
        """Bytes held: the C arrays plus the arrays of the side table, each
        array's memory counted once (an array that is one node's value and
        another's argument, or a view, holds the memory of the array it
        views).

        >>> tape = fastad.record(lambda x: np.sum(x ** 2), np.ones(1000))
        >>> tape.nbytes - 2 * 8000 < 1000  # x and x ** 2, 1000 float64 each
        True
        """
        held = {}
        for ext in self._tape.exts:
            for value in (ext.value,) + tuple(ext.args):
                while isinstance(getattr(value, "base", None), np.ndarray):
                    value = value.base
                held[id(value)] = getattr(value, "nbytes", 0)
        return self._tape.nbytes + sum(held.values())

    def _counts(self):
        scalar = array = guards = 0
        for i in range(len(self._tape)):
            opcode = self._tape.raw(i)[0]
            ext = self._tape.ext(i)
            if ext is None:
                if _tape.FIRST_COMPARISON <= opcode <= _tape.LAST_COMPARISON:
                    guards += 1
                elif opcode != 0:
                    scalar += 1
            elif ext.guard:
                guards += 1
            elif ext.primitive is not None:
                array += 1
        return scalar, array, guards

    def __repr__(self):
        scalar, array, guards = self._counts()
        name = getattr(self.fun, "__name__", "function")
        return ("<fastad.Tape of %s: %d operations (%d scalar, %d array), %d inputs, "
                "%d branch guards, %d bytes>"
                % (name, len(self), scalar, array, len(self._rec.flat_inputs), guards, self.nbytes))

    def to_dot(self):
        r"""The computational graph in Graphviz DOT, as a string: inputs,
        operations (with their values), constants and outputs (in red).

        >>> tape = fastad.record(lambda x, y: x * y, 2.0, 3.0)
        >>> print(tape.to_dot())
        digraph fastad {
          rankdir=LR;
          node [fontname="Helvetica"];
          n0 [label="x0\n2", shape=ellipse];
          n1 [label="x1\n3", shape=ellipse];
          n2 [label="multiply\n6", shape=box, style=bold, color="red"];
          n0 -> n2;
          n1 -> n2;
        }
        """
        inputs = {b.node: i for i, b in enumerate(self._rec.flat_inputs)}
        outputs = {o.node for o in self._out_leaves if type(o) in _TRACED}
        lines = ["digraph fastad {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
        constant_count = 0
        for i in range(len(self._tape)):
            name, operands, value = self._tape.node(i)
            label = "%s\\n%s" % (name, _short(value))
            if i in inputs:
                label = "x%d\\n%s" % (inputs[i], _short(value))
                shape = "ellipse"
            elif name == "input":
                label, shape = "const\\n%s" % _short(value), "plaintext"
            else:
                shape = "box"
            style = ', style=bold, color="red"' if i in outputs else ""
            lines.append('  n%d [label="%s", shape=%s%s];' % (i, label, shape, style))
            for operand in operands:
                if isinstance(operand, tuple):
                    lines.append('  c%d [label="%s", shape=plaintext];'
                                 % (constant_count, _short(operand[1])))
                    lines.append("  c%d -> n%d;" % (constant_count, i))
                    constant_count += 1
                else:
                    lines.append("  n%d -> n%d;" % (operand, i))
        lines.append("}")
        return "\n".join(lines)

    def render(self, path, format="png"):
        """Draw the graph (see `to_dot`) with the `graphviz` package (pip
        install graphviz, plus Graphviz's dot program) into `path` plus the
        `format` suffix; returns the written file's path.

        >>> tape = fastad.record(lambda x, y: x * y, 2.0, 3.0)
        >>> tape.render("graph")  # doctest: +SKIP
        'graph.png'
        """
        try:
            import graphviz
        except ImportError as exc:
            raise ImportError("Tape.render needs the graphviz package: pip install graphviz; "
                              "Tape.to_dot() gives the DOT text without it") from exc
        source = graphviz.Source(self.to_dot())
        return source.render(path, format=format, cleanup=True)

    @_serialized
    def trace_table(self, *args, seed=None):
        """The evaluation trace at `args` as printable text: for every node
        its index, operation, operands, value, tangent in the direction
        `seed` (default: the first input element), and adjoint (for a scalar
        output).  The lectures' Wengert list, forward and reverse.

        >>> tape = fastad.record(lambda x, y: x * y + np.sin(x), 1.0, 2.0)
        >>> print(tape.trace_table(0.0, 3.0))
           v  operation    operands                  value        tangent        adjoint
          v1  input x0                                   0              1              4
          v2  input x1                                   3              0              0
          v3  multiply     v1, v2                        0              3              1
          v4  sin          v1                            0              1              1
          v5  add          v3, v4                        0              4              1
        """
        self._load(args)
        boxes = self._rec.flat_inputs
        if seed is None:
            seed_leaves = [np.zeros(np.shape(b)) if np.ndim(b) else 0.0 for b in boxes]
            first = seed_leaves[0]
            if np.ndim(first):
                first.reshape(-1)[0] = 1.0
            else:
                seed_leaves[0] = 1.0
        else:
            seed_leaves = flatten(seed)[0]
        everything = [self._tape.box(i) for i in range(len(self._tape))]
        tangents = self._tape.forward(0, [(b, _seed_value(b, s)) for b, s in zip(boxes, seed_leaves)],
                                      everything)
        adjoints = [None] * len(self._tape)
        if len(self._out_leaves) == 1 and type(self._out_leaves[0]) is Scalar:
            adjoints = self._tape.node_adjoints(self._tape.box(self._out_leaves[0].node))
        inputs = {b.node: i for i, b in enumerate(boxes)}
        rows = ["%4s  %-12s %-16s %14s %14s %14s" % ("v", "operation", "operands", "value",
                                                     "tangent", "adjoint")]
        for i in range(len(self._tape)):
            name, operands, value = self._tape.node(i)
            if i in inputs:
                name = "input x%d" % inputs[i]
            args_text = ", ".join("v%d" % (o + 1) if not isinstance(o, tuple) else _short(o[1])
                                  for o in operands)
            adjoint = adjoints[i] if self._tape.is_scalar(i) and adjoints[0] is not None else None
            rows.append("%4s  %-12s %-16s %14s %14s %14s" % (
                "v%d" % (i + 1), name, args_text, _short(value), _short(tangents[i]),
                "" if adjoint is None else _short(adjoint)))
        return "\n".join(rows)

    # -- pickling ---------------------------------------------------------------------
    #
    # A pickled Tape is its explicit state (__getstate__: plain data, the
    # traced values as node indices of the core tape) pickled into bytes with
    # a digest of them: loading checks the format and the digest, then
    # every field of the state against the core tape (whose own loader has
    # checked its columns and records), and boxes the inputs and outputs
    # anew.  The digest refuses a pickle changed after it was written (a
    # flipped constant is valid data that no check could tell from the
    # original); the checks refuse a state no recording could have made.

    def __getstate__(self):
        import pickle
        fun = self.fun
        try:  # the function comes along when it pickles (retape and hessian need it)
            pickle.dumps(fun)
        except Exception:
            fun = None
        return {
            "format": FORMAT_VERSION,
            "tape": self._tape,
            "inputs": [[box.node for box in boxes] for _, _, boxes in self._rec.inputs],
            "structure": self._structure,
            "outputs": (self._out_treedef,
                        [("traced", leaf.node) if type(leaf) in _TRACED else ("plain", leaf)
                         for leaf in self._out_leaves]),
            "fun": fun,
            "retape": self.retape,
            "guard_kinks": getattr(self, "guard_kinks", True),
            "grad_tape": self._grad_tape if fun is not None else None,
            "sparse": sparsity.plans_state(self, fun is not None),
        }

    def __reduce_ex__(self, protocol):
        import pickle
        # (protocol 2 at least: the pytree structures have __slots__)
        payload = pickle.dumps(self.__getstate__(), max(protocol, 2))
        return (_unpickle, ({"format": FORMAT_VERSION, "digest": _digest(payload),
                             "payload": payload},))

    def __setstate__(self, state):
        version = state.get("format") if type(state) is dict else None
        if version == 2:
            state = dict(state, format=FORMAT_VERSION, sparse={})
            version = FORMAT_VERSION
        if version != FORMAT_VERSION:
            raise ValueError("this fastad.Tape was pickled in format %r; this fastad reads "
                             "format %d: record it again" % (version, FORMAT_VERSION))
        self._lock = threading.RLock()
        tape, boxes, structure, out_treedef, out_leaves = _checked_state(state)
        self.fun = state["fun"]
        self.retape = state["retape"]
        self.guard_kinks = state["guard_kinks"]
        self._grad_tape = state["grad_tape"]
        self._sparse = {}
        self._sparse_seeds = {}
        rec = _Recording.__new__(_Recording)
        rec.nested = False
        rec.tape = tape
        rec.start = 0
        rec.end = None  # (the whole tape)
        rec.inputs = [(treedef, [box.value for box in arg_boxes], arg_boxes)
                      for (treedef, _), arg_boxes in zip(structure, boxes)]
        rec.output = unflatten(out_treedef, out_leaves)
        self._rec = rec
        self._tape = tape
        self._structure = structure
        self._out_leaves, self._out_treedef = out_leaves, out_treedef
        self._flat_inputs = [box for arg_boxes in boxes for box in arg_boxes]
        self._loaded = None
        # (what _record derives, derived again rather than trusted)
        treedef, specs = structure[0]
        self._single_array = (specs[0] if len(structure) == 1 and treedef.kind == "leaf"
                              and specs[0][0] == "array" and specs[0][3] is np.ndarray else None)
        out = out_leaves[0] if len(out_leaves) == 1 else None
        self._scalar_node = out.node if type(out) is Scalar else None
        self._all_floats = all(treedef.kind == "leaf" and specs[0][0] == "scalar"
                               and specs[0][3] is float for treedef, specs in structure)
        self._sparse = sparsity.checked_plans(state["sparse"], self, _corrupt)


def _digest(payload):
    import hashlib
    return hashlib.sha256(payload).digest()  # (SHA-256: in hardware on most machines)


def _unpickle(wrapper):
    """The Tape a pickle holds: its format and digest checked, then its state."""
    import pickle
    version = wrapper.get("format") if type(wrapper) is dict else None
    if version != FORMAT_VERSION:
        raise ValueError("this fastad.Tape was pickled in format %r; this fastad reads "
                         "format %d: record it again" % (version, FORMAT_VERSION))
    payload, digest = wrapper.get("payload"), wrapper.get("digest")
    if type(payload) is not bytes or type(digest) is not bytes or _digest(payload) != digest:
        raise ValueError("a pickled fastad.Tape is corrupt: its payload does not match its "
                         "digest (the pickle was changed after it was written)")
    tape = Tape.__new__(Tape)
    tape.__setstate__(pickle.loads(payload))
    return tape


_STATE_FIELDS = {"format", "tape", "inputs", "structure", "outputs", "fun", "retape",
                 "guard_kinks", "grad_tape", "sparse"}


def _corrupt(field, problem):
    return ValueError("a pickled fastad.Tape is corrupt: %s %s" % (field, problem))


def _checked_state(state):
    """(core tape, boxed inputs per argument, structure, output treedef,
    output leaves) of a pickled state, every field checked against the core
    tape; ValueError naming the field that is wrong."""
    if set(state) != _STATE_FIELDS:
        raise _corrupt("the state", "has the fields %s, not %s"
                       % (sorted(map(str, state)), sorted(_STATE_FIELDS)))
    tape = state["tape"]
    if type(tape) is not _tape.Tape:
        raise _corrupt("tape", "is %s, not a fastad tape" % _describe(tape))
    for name in ("retape", "guard_kinks"):
        if type(state[name]) is not bool:
            raise _corrupt(name, "is %r, not a bool" % (state[name],))
    if state["fun"] is not None and not callable(state["fun"]):
        raise _corrupt("fun", "is %s, not a function" % _describe(state["fun"]))
    structure = state["structure"]
    if type(structure) is not list or not structure:
        raise _corrupt("structure", "is not a list of arguments")
    for k, argument in enumerate(structure):
        if not (type(argument) is tuple and len(argument) == 2 and type(argument[1]) is list):
            raise _corrupt("structure[%d]" % k, "is not a (treedef, leaf specs) pair")
        treedef, specs = argument
        n_leaves = _checked_treedef(treedef, "structure[%d]" % k)
        if len(specs) != n_leaves:
            raise _corrupt("structure[%d]" % k, "has %d leaf specs for %d leaves"
                           % (len(specs), n_leaves))
        for i, spec in enumerate(specs):
            _check_spec(spec, "structure[%d][%d]" % (k, i))
    # the inputs: the tape's first nodes, one per leaf, of their specs' kinds
    inputs = state["inputs"]
    if type(inputs) is not list or len(inputs) != len(structure):
        raise _corrupt("inputs", "is not a list of %d arguments' nodes" % len(structure))
    size = len(tape)
    boxes, expected = [], 0
    for k, (nodes, (_, specs)) in enumerate(zip(inputs, structure)):
        if type(nodes) is not list or len(nodes) != len(specs):
            raise _corrupt("inputs[%d]" % k, "is not a list of %d nodes" % len(specs))
        arg_boxes = []
        for i, (node, spec) in enumerate(zip(nodes, specs)):
            if type(node) is not int or node != expected or node >= size:
                raise _corrupt("inputs[%d][%d]" % (k, i), "is %r, but the inputs are the tape's "
                               "first nodes (this one node %d of %d)" % (node, expected, size))
            expected += 1
            kind, shape, dtype, _ = spec
            ext = tape.ext(node)
            if kind == "scalar":
                if tape.raw(node)[0] != 0:  # FA_LEAF
                    raise _corrupt("inputs[%d][%d]" % (k, i), "is node %d, which is not a scalar "
                                   "input" % node)
            elif not (ext is not None and ext.primitive is None and not ext.scalar_out):
                raise _corrupt("inputs[%d][%d]" % (k, i), "is node %d, which is not an array "
                               "input" % node)
            elif ext.shape != shape or ext.dtype != dtype:
                raise _corrupt("structure[%d][%d]" % (k, i), "records shape %s and %s, but input "
                               "node %d holds shape %s and %s"
                               % (shape, dtype, node, ext.shape, ext.dtype))
            arg_boxes.append(tape.box(node))
        boxes.append(arg_boxes)
    # the outputs: traced values of the tape, or plain values
    outputs = state["outputs"]
    if not (type(outputs) is tuple and len(outputs) == 2 and type(outputs[1]) is list):
        raise _corrupt("outputs", "is not a (treedef, leaves) pair")
    out_treedef, leaves = outputs
    n_out = _checked_treedef(out_treedef, "outputs")
    if len(leaves) != n_out:
        raise _corrupt("outputs", "has %d leaves for %d" % (len(leaves), n_out))
    out_leaves = []
    for i, leaf in enumerate(leaves):
        if not (type(leaf) is tuple and len(leaf) == 2 and leaf[0] in ("traced", "plain")):
            raise _corrupt("outputs[%d]" % i, "is %s, not a traced or plain leaf"
                           % _describe(leaf))
        kind, value = leaf
        if kind == "plain":
            if type(value) in _TRACED or not isinstance(value, (float, int, np.ndarray,
                                                                np.generic)):
                raise _corrupt("outputs[%d]" % i, "is %s, not a float or an array"
                               % _describe(value))
            out_leaves.append(value)
            continue
        if type(value) is not int or not 0 <= value < size:
            raise _corrupt("outputs[%d]" % i, "is node %r of a tape of %d" % (value, size))
        opcode = tape.raw(value)[0]
        ext = tape.ext(value)
        if _tape.FIRST_COMPARISON <= opcode <= _tape.LAST_COMPARISON or (
                ext is not None and ext.guard):
            raise _corrupt("outputs[%d]" % i, "is node %d, which holds no value" % value)
        out_leaves.append(tape.box(value))
    grad_tape = state["grad_tape"]
    if grad_tape is not None:
        if type(grad_tape) is not Tape:
            raise _corrupt("grad_tape", "is %s, not a recorded tape" % _describe(grad_tape))
        if grad_tape._structure != structure:
            raise _corrupt("grad_tape", "was recorded with arguments %r, not %r"
                           % (grad_tape._structure, structure))
    return tape, boxes, structure, out_treedef, out_leaves


def _checked_treedef(treedef, field, depth=0):
    """The number of leaves of a pytree structure, checked: leaves, Nones,
    and tuples, lists and dicts (or their subclasses) of them."""
    if type(treedef) is not TreeDef or depth > 100:
        raise _corrupt(field, "holds %s, not a pytree structure" % _describe(treedef))
    kind = treedef.kind
    if kind == "leaf" or kind == "none":
        if treedef.children != () or treedef.keys is not None:
            raise _corrupt(field, "holds a leaf with children")
        return 1 if kind == "leaf" else 0
    if not (isinstance(kind, type) and issubclass(kind, (tuple, list, dict))):
        raise _corrupt(field, "holds a node of kind %r, not a tuple, list or dict" % (kind,))
    children = treedef.children
    if type(children) is not tuple:
        raise _corrupt(field, "holds a node whose children are not a tuple")
    if issubclass(kind, dict):
        if type(treedef.keys) is not tuple or len(treedef.keys) != len(children):
            raise _corrupt(field, "holds a dict whose keys do not match its children")
    elif treedef.keys is not None:
        raise _corrupt(field, "holds a sequence with keys")
    return sum(_checked_treedef(child, field, depth + 1) for child in children)


def _check_spec(spec, field):
    """An input leaf's spec as _leaf_spec writes it: (kind, shape, dtype, type)."""
    if not (type(spec) is tuple and len(spec) == 4):
        raise _corrupt(field, "is %s, not a leaf spec" % _describe(spec))
    kind, shape, dtype, kind_type = spec
    if not (type(shape) is tuple and all(type(d) is int and d >= 0 for d in shape)
            and isinstance(dtype, np.dtype) and dtype.kind == "f"):
        raise _corrupt(field, "has shape %r and dtype %r" % (shape, dtype))
    if kind == "scalar":
        ok = shape == () and dtype == np.float64 and kind_type in (float, np.float64)
    elif kind == "array":
        ok = kind_type is np.ndarray or (isinstance(kind_type, type)
                                         and issubclass(kind_type, np.floating) and shape == ())
    else:
        ok = False
    if not ok:
        raise _corrupt(field, "is (%r, %r, %r, %r), not a leaf spec" % spec)


def _same_bits(values, loaded):
    """Whether two lists of input values are identical, bit for bit (-0.0 and
    0.0 differ, a NaN equals itself)."""
    for a, b in zip(values, loaded):
        if isinstance(a, np.ndarray):
            if not isinstance(b, np.ndarray) or a.shape != b.shape or a.dtype != b.dtype:
                return False
            if a.flags.c_contiguous and b.flags.c_contiguous:
                if not _tape.same_bytes(a, b):
                    return False
            elif a.tobytes() != b.tobytes():
                return False
        elif isinstance(b, np.ndarray) or np.float64(a).tobytes() != np.float64(b).tobytes():
            return False
    return len(values) == len(loaded)


def _seed_value(box, s):
    return float(s) if type(box) is Scalar else np.asarray(s, box.dtype)


def _short(value):
    if value is None:
        return ""
    if np.ndim(value) == 0:
        return "%.6g" % float(value)
    return "array%s" % (np.shape(value),)


def _leaf_spec(leaf):
    """(kind, shape, dtype) an input leaf must keep at replay."""
    if type(leaf) is float or isinstance(leaf, np.float64) and not isinstance(leaf, np.ndarray):
        return ("scalar", (), np.dtype(np.float64), type(leaf))
    if isinstance(leaf, np.ndarray):
        return ("array", leaf.shape, leaf.dtype, np.ndarray)
    return ("array", (), np.asarray(leaf).dtype, type(leaf))


def _check_leaf(leaf, spec, argnum, index):
    kind, shape, dtype, _ = spec
    if kind == "scalar":
        if not isinstance(leaf, (float, int, np.floating, np.integer)) or isinstance(leaf, bool):
            raise TypeError("argument %d, leaf %d: the tape was recorded with a float here, got %s"
                            % (argnum, index, _describe(leaf)))
        return float(leaf)
    if isinstance(leaf, np.ndarray) and type(leaf) is not np.ndarray:
        error = _refuse_subclass(leaf, "argument %d, leaf %d" % (argnum, index), "replay")
        if error is not None:
            raise error
    value = np.asarray(leaf)
    if value.shape != shape or value.dtype != dtype:
        raise ValueError("argument %d, leaf %d: the tape was recorded with shape %s and dtype %s, "
                         "got shape %s and dtype %s; record again for new shapes"
                         % (argnum, index, shape, dtype, value.shape, value.dtype))
    return value


def _as_spec(adjoint, spec):
    kind, shape, dtype, kind_type = spec
    if kind == "scalar":
        return float(adjoint) if kind_type is float else np.float64(adjoint)
    adjoint = np.asarray(adjoint, dtype)
    if kind_type is not np.ndarray:
        return kind_type(adjoint)
    return adjoint
