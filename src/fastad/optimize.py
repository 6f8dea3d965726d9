"""fastad as the gradient backend of scipy.optimize.

    result = fastad.optimize.minimize(f, x0, method="L-BFGS-B")

supplies `jac` (and `hessp` or `hess` for the methods that use them) from a
tape recorded once and replayed at every point the optimizer asks for; a
function whose recorded branches flip is recorded again where that happens
(retape), and one that cannot be recorded is traced afresh at each call.
`x0` may be a pytree of arrays; the result's `x` has the same structure.
"""
import numpy as np

from .recorded import RetapeRequired, record
from .core import value_and_grad as _value_and_grad
from .forward import hvp as _hvp, hessian as _hessian, jacobian as _jacobian
from .tree import flatten, unflatten

__all__ = ["minimize", "least_squares", "minimize_ipopt"]

_HESSP_METHODS = {"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"}
_HESS_METHODS = {"dogleg", "trust-exact"}


class _Flat:
    """A pytree of float arrays seen as one float64 vector."""

    def __init__(self, x0):
        leaves, self.treedef = flatten(x0)
        self.shapes = [np.shape(leaf) for leaf in leaves]
        self.dtypes = [np.asarray(leaf).dtype if np.ndim(leaf) or isinstance(leaf, np.ndarray)
                       else None for leaf in leaves]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.x0 = np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves]) \
            if leaves else np.zeros(0)
        self.single = (len(leaves) == 1 and isinstance(leaves[0], np.ndarray)
                       and leaves[0].dtype == np.float64 and self.treedef.kind == "leaf")

    def tree(self, vector):
        if self.single:  # one float64 array: the vector itself, reshaped
            return vector.reshape(self.shapes[0])
        leaves, offset = [], 0
        for shape, size, dtype in zip(self.shapes, self.sizes, self.dtypes):
            part = vector[offset:offset + size]
            leaves.append(float(part[0]) if dtype is None else part.reshape(shape).astype(dtype))
            offset += size
        return unflatten(self.treedef, leaves)

    def vector(self, tree):
        if self.single and isinstance(tree, np.ndarray):
            return np.ravel(tree).astype(np.float64, copy=False)
        leaves = flatten(tree)[0]
        return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])


class _Backend:
    """Value, gradient, Hessian-vector products of `fun(x, *args)` through a
    recorded tape when possible, by re-tracing otherwise."""

    def __init__(self, fun, flat, args, use_tape):
        self.fun, self.flat, self.args = fun, flat, args
        self.objective = lambda x: fun(x, *args)
        self.tape = None
        if use_tape:
            try:
                self.tape = record(self.objective, flat.tree(flat.x0), retape=True,
                                   guard_kinks=False)  # exact at kinks: no re-recording
            except (TypeError, NotImplementedError):
                self.tape = None  # not recordable (e.g. float() on a traced value)

    def value_and_grad(self, x):
        tree = self.flat.tree(x)
        if self.tape is not None:
            try:
                value, grad = self.tape.value_and_grad(tree)
                return float(value), self.flat.vector(grad)
            except RetapeRequired:
                self.tape = None
        value, grad = _value_and_grad(self.objective)(tree)
        return float(value), self.flat.vector(grad)

    def hessp(self, x, p):
        tree, direction = self.flat.tree(x), self.flat.tree(p)
        if self.tape is not None:
            try:
                return self.flat.vector(self.tape.hvp(tree, direction))
            except RetapeRequired:
                self.tape = None
        return self.flat.vector(_hvp(self.objective, tree, direction))

    def hess(self, x):
        tree = self.flat.tree(x)
        if self.tape is not None and len(self.flat.sizes) == 1:
            try:
                return np.asarray(self.tape.hessian(tree), np.float64).reshape(
                    self.flat.x0.size, self.flat.x0.size)
            except RetapeRequired:
                self.tape = None
        if len(self.flat.sizes) != 1:
            raise NotImplementedError("hess for pytree parameters: use a Hessian-vector method")
        return np.asarray(_hessian(self.objective)(tree), np.float64).reshape(
            self.flat.x0.size, self.flat.x0.size)


def minimize(fun, x0, args=(), method=None, use_tape=True, shards=None, client=None, **kwargs):
    """scipy.optimize.minimize with fastad's derivatives.

    `fun(x, *args)` returns a scalar; `x0` is a float, an array or a pytree
    of them.  `jac` is supplied (as scipy's `jac=True` form), and `hessp`
    (Newton-CG, trust-ncg, trust-krylov, trust-constr) or `hess` (dogleg,
    trust-exact) for the methods that use second derivatives; trust-constr's
    constraints that leave their Jacobian to finite differences (eq/ineq
    dicts, NonlinearConstraint) get sparse Jacobians and Hessians from
    recorded tapes (for a 1-D float x0).  With
    `use_tape=True` (default) derivatives come from a replayed tape.  Other
    keyword arguments go to scipy.  Returns scipy's OptimizeResult; its `x`
    has x0's structure (and, without `shards`, so has its `jac`, and its
    `recorded` says whether the derivatives came from a recorded tape).

    With `shards`, the objective is sum_s fun(x, shard_s), evaluated shard
    by shard by fastad.distributed.value_and_grad_sum, on the workers of the
    Dask `client` if one is given (first-order methods).

    >>> def rosen(x):
    ...     return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    ...
    >>> res = fastad.optimize.minimize(rosen, np.array([1.2, 1.1, 0.9]), method="Newton-CG")
    >>> res.success, res.recorded
    (True, True)
    >>> print(numpy.round(res.x, 4))
    [1. 1. 1.]
    """
    import scipy.optimize
    for name in ("jac", "hess", "hessp"):
        if name in kwargs:
            raise TypeError("fastad.optimize.minimize supplies %s itself; call "
                            "scipy.optimize.minimize to give your own" % name)
    flat = _Flat(x0)
    method_name = (method or "BFGS").lower()
    if shards is not None:
        if method_name in _HESSP_METHODS | _HESS_METHODS:
            raise NotImplementedError("sharded objectives support first-order methods "
                                      "(L-BFGS-B, BFGS, CG, ...), not %s" % method)
        from .distributed import value_and_grad_sum

        def sharded(x):
            value, grad = value_and_grad_sum(fun, flat.tree(x), shards, client, use_tape)
            return float(value), flat.vector(grad)
        result = scipy.optimize.minimize(sharded, flat.x0, jac=True, method=method, **kwargs)
        result.x = flat.tree(result.x)
        return result
    backend = _Backend(fun, flat, tuple(args), use_tape)
    extra = {}
    if method_name == "trust-constr" and "constraints" in kwargs and flat.single:
        kwargs["constraints"] = _with_derivatives(kwargs["constraints"], flat.x0)
    if method_name in _HESSP_METHODS:
        extra["hessp"] = backend.hessp
    elif method_name in _HESS_METHODS:
        extra["hess"] = backend.hess
    result = scipy.optimize.minimize(backend.value_and_grad, flat.x0, jac=True, method=method,
                                     **extra, **kwargs)
    result.x = flat.tree(result.x)
    if method_name == "trust-constr":
        # (scipy's `jac` there is the list of the constraints' Jacobians; the
        # objective's gradient is `grad`)
        result.grad = flat.tree(np.asarray(result.grad, np.float64))
    elif getattr(result, "jac", None) is not None:
        result.jac = flat.tree(result.jac)
    result.recorded = backend.tape is not None
    return result


def _with_derivatives(constraints, x0):
    """trust-constr's constraints with fastad's derivatives: each
    NonlinearConstraint (or eq/ineq dict) that leaves `jac` to finite
    differences gets the sparse Jacobian and the sparse Hessian of v . c(x)
    from tapes recorded at x0 (one that gives its own keeps it)."""
    import scipy.optimize
    single = isinstance(constraints, dict) or hasattr(constraints, "fun")
    out = []
    for c in ([constraints] if single else list(constraints)):
        if isinstance(c, dict):
            if c.get("type") not in ("eq", "ineq") or "jac" in c:
                out.append(c)
                continue
            c_args = tuple(c.get("args", ()))
            c_fun = (lambda f, a: lambda x: f(x, *a))(c["fun"], c_args)
            low, high = 0.0, (0.0 if c["type"] == "eq" else np.inf)
        elif isinstance(c, scipy.optimize.NonlinearConstraint) and c.jac == "2-point":
            c_fun, low, high = c.fun, c.lb, c.ub
        else:
            out.append(c)
            continue
        out.append(_sparse_constraint(scipy.optimize, c_fun, low, high, x0))
    return out


def _sparse_constraint(optimize, c_fun, low, high, x0):
    from . import numpy as fnp
    values = lambda x: fnp.reshape(c_fun(x), (-1,))  # noqa: E731
    tape = record(values, x0, retape=True, guard_kinks=False)
    m = np.size(tape(x0))
    weighted = record(lambda x, v: fnp.dot(v, values(x)), x0, np.ones(m), retape=True,
                      guard_kinks=False)
    return optimize.NonlinearConstraint(
        lambda x: np.asarray(tape(x), np.float64), low, high,
        jac=lambda x: tape.sparse_jacobian(x).tocsr(),
        hess=lambda x, v: weighted.sparse_hessian(x, np.asarray(v, np.float64)).tocsr())


def least_squares(fun, x0, args=(), use_tape=True, jac_sparsity=None, **kwargs):
    """scipy.optimize.least_squares with the Jacobian of the residuals
    `fun(x, *args)` (a 1-D array) from fastad; x0 is a float array.  With
    `jac_sparsity="auto"` the Jacobian is a sparse matrix on the pattern
    found on the recorded tape (`Tape.sparse_jacobian`: one forward sweep
    per colour), which scipy's trust-region solvers take with LSMR.  Other
    keyword arguments go to scipy.  Returns scipy's OptimizeResult, with
    `recorded` saying whether the Jacobian came from a recorded tape.

    >>> def residuals(x):
    ...     return np.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])
    ...
    >>> res = fastad.optimize.least_squares(residuals, np.array([-1.2, 1.0]))
    >>> res.success, res.recorded
    (True, True)
    >>> print(numpy.round(res.x, 6))
    [1. 1.]
    """
    import scipy.optimize
    if "jac" in kwargs:
        raise TypeError("fastad.optimize.least_squares supplies jac itself")
    sparse = isinstance(jac_sparsity, str) and jac_sparsity == "auto"
    if jac_sparsity is not None and not sparse:
        raise ValueError("fastad.optimize.least_squares: jac_sparsity is None (dense) or "
                         "'auto' (found on the tape), got %r" % (jac_sparsity,))
    x0 = np.asarray(x0, np.float64)
    objective = lambda x: fun(x, *args)  # noqa: E731
    tape = None
    if use_tape or sparse:
        try:
            tape = record(objective, x0, retape=True, guard_kinks=False)
        except (TypeError, NotImplementedError):
            tape = None

    def residuals(x):
        return np.asarray(tape(x) if tape is not None else objective(x), np.float64)

    def jacobian(x):
        J = tape.jacobian(x) if tape is not None else _jacobian(objective)(x)
        return np.asarray(J, np.float64).reshape(-1, x0.size)

    def sparse_jacobian(x):
        return tape.sparse_jacobian(x).tocsr()
    if sparse and tape is None:
        raise TypeError("fastad.optimize.least_squares: jac_sparsity='auto' needs the "
                        "residuals recorded, and recording them failed")
    result = scipy.optimize.least_squares(residuals, x0, jac=sparse_jacobian if sparse
                                          else jacobian, **kwargs)
    result.recorded = tape is not None
    return result


def minimize_ipopt(fun, x0, args=(), kwargs=None, method=None, jac=None, hess=None, hessp=None,
                   bounds=None, constraints=(), tol=None, callback=None, options=None):
    """IPOPT through cyipopt, with cyipopt's (scipy-like) signature and
    fastad's derivatives: the gradient, the sparse Jacobian of the
    constraints and the sparse Hessian of the Lagrangian come from tapes
    recorded at `x0` (see `fastad.ipopt.Problem`), so `jac`, `hess` and
    `hessp` (and the constraints' own `jac`) are not used.  `bounds` is a
    sequence of (low, high) pairs or a `scipy.optimize.Bounds`;
    `constraints` dicts ({"type": "eq" | "ineq", "fun": ..., "args": ...};
    "ineq" means fun >= 0) or `scipy.optimize.NonlinearConstraint`s;
    `options` IPOPT's options ("disp" sets its print level); `callback` is
    accepted and ignored, as in cyipopt.  Returns scipy's OptimizeResult.

    >>> res = fastad.optimize.minimize_ipopt(
    ...     lambda x: np.sum((x - 2.0) ** 2), np.zeros(2), bounds=[(0.0, 1.0), (None, None)],
    ...     options={"disp": 0})
    >>> res.success, numpy.round(res.x, 6)
    (True, array([1., 2.]))
    """
    import scipy.optimize
    from . import numpy as fnp
    from .ipopt import Problem
    kwargs = kwargs or {}
    x0 = np.asarray(x0, np.float64)
    shape = x0.shape
    objective = lambda x: fun(fnp.reshape(x, shape), *args, **kwargs)  # noqa: E731
    n = x0.size
    lb, ub = _ipopt_bounds(bounds, n)
    parts, cl, cu = [], [], []
    for c in ([constraints] if isinstance(constraints, dict) or hasattr(constraints, "fun")
              else list(constraints)):
        if isinstance(c, dict):
            kind = c.get("type")
            if kind not in ("eq", "ineq"):
                raise ValueError("minimize_ipopt: a constraint's type must be 'eq' or 'ineq', "
                                 "got %r" % (kind,))
            c_fun, c_args = c["fun"], tuple(c.get("args", ()))
            m = np.size(c_fun(x0.reshape(shape), *c_args))
            low = np.zeros(m)
            high = np.zeros(m) if kind == "eq" else np.full(m, np.inf)
        else:  # NonlinearConstraint
            c_fun, c_args = c.fun, ()
            m = np.size(c_fun(x0.reshape(shape)))
            low = np.broadcast_to(np.asarray(c.lb, np.float64), (m,))
            high = np.broadcast_to(np.asarray(c.ub, np.float64), (m,))
        parts.append((c_fun, c_args))
        cl.append(low)
        cu.append(high)
    def constraint_values(x):
        return fnp.concatenate([fnp.reshape(f(fnp.reshape(x, shape), *a), (-1,))
                                for f, a in parts])
    problem = Problem(objective, x0.ravel(), g=constraint_values if parts else None, lb=lb, ub=ub,
                      cl=np.concatenate(cl) if cl else None,
                      cu=np.concatenate(cu) if cu else None)
    ipopt_options = dict(options or {})
    if "disp" in ipopt_options:
        ipopt_options["print_level"] = int(ipopt_options.pop("disp"))
    if tol is not None:
        ipopt_options["tol"] = float(tol)
    ipopt_options.setdefault("sb", "yes")
    x, info = problem.solve(options=ipopt_options)
    return scipy.optimize.OptimizeResult(
        x=np.reshape(x, shape), fun=float(info["obj_val"]), success=info["status"] in (0, 1),
        status=info["status"], message=_text(info["status_msg"]), info=info,
        jac=np.reshape(problem.gradient(x), shape))


def _text(message):
    return message.decode() if isinstance(message, bytes) else str(message)


def _ipopt_bounds(bounds, n):
    if bounds is None:
        return None, None
    if hasattr(bounds, "lb") and hasattr(bounds, "ub"):  # scipy.optimize.Bounds
        return (np.broadcast_to(np.asarray(bounds.lb, np.float64), (n,)),
                np.broadcast_to(np.asarray(bounds.ub, np.float64), (n,)))
    pairs = list(bounds)
    if len(pairs) != n:
        raise ValueError("minimize_ipopt: bounds has %d pairs for %d variables" % (len(pairs), n))
    lb = np.array([-np.inf if low is None else low for low, _ in pairs], np.float64)
    ub = np.array([np.inf if high is None else high for _, high in pairs], np.float64)
    return lb, ub
