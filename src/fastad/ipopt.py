"""fastad as IPOPT's derivative backend (IPOPT as cyipopt installs it).

    problem = fastad.ipopt.Problem(f, x0, g=g, lb=lb, ub=ub, cl=cl, cu=cu)
    x, info = problem.solve()

minimises f(x) subject to cl <= g(x) <= cu and lb <= x <= ub, handing
IPOPT the objective and its gradient, the constraints with their sparse
Jacobian (`jacobian` + `jacobianstructure`) and the lower triangle of the
sparse Hessian of the Lagrangian sigma f(x) + lam . g(x) (`hessian` +
`hessianstructure`), each from a tape recorded once at x0 and replayed at
every point IPOPT asks for (see `fastad.sparsity` for the patterns).
`fastad.optimize.minimize_ipopt` wraps it with cyipopt's scipy-like
signature.  cyipopt is the optional extra `fastad[ipopt]`; on Debian and
Ubuntu it builds against `coinor-libipopt-dev liblapack-dev libblas-dev
pkg-config`.
"""
import numpy as np

from . import _ipopt_c, sparsity
from . import numpy as fnp
from .recorded import record

__all__ = ["Problem"]

#: IPOPT's infinity (its option nlp_upper_bound_inf): bounds beyond are none
INFINITY = 2e19


def _cyipopt():
    try:
        import cyipopt
    except ImportError:
        raise ImportError(
            "fastad.ipopt needs cyipopt: pip install 'fastad[ipopt]' (on Debian/Ubuntu first "
            "apt-get install coinor-libipopt-dev liblapack-dev libblas-dev pkg-config)") from None
    return cyipopt


def _bounds(values, size, default, name):
    if values is None:
        return np.full(size, default)
    out = np.broadcast_to(np.asarray(values, np.float64), (size,)).copy()
    if np.isnan(out).any():
        raise ValueError("Problem: %s holds NaN; use +-inf for no bound" % name)
    return np.clip(out, -INFINITY, INFINITY)


class Problem:
    """An IPOPT problem: minimise `f(x)` subject to `cl <= g(x) <= cu` and
    `lb <= x <= ub`, with derivatives from tapes recorded at `x0` (a 1-d
    float array).  `g` returns a 1-d array of the m constraints (None: no
    constraints).  Bounds broadcast; None or +-inf means none.  Passing an
    instance to `cyipopt.Problem(..., problem_obj=problem)` works too: it
    has cyipopt's callbacks.

    With `retape=True` (the default) a point where a recorded branch of `f`
    or `g` flips records them again there; the sparsity structure must stay
    the same, or the callbacks raise (IPOPT fixes it at the start).

    >>> problem = fastad.ipopt.Problem(lambda x: np.sum((x - 1.0) ** 2), np.zeros(3),
    ...                                g=lambda x: np.stack([np.sum(x)]), cl=0.0, cu=1.5)
    >>> x, info = problem.solve(options={"print_level": 0})
    >>> np.round(x, 6), info["status"]
    (array([0.5, 0.5, 0.5]), 0)
    """

    def __init__(self, f, x0, g=None, lb=None, ub=None, cl=None, cu=None, retape=True):
        x0 = np.asarray(x0, np.float64)
        if x0.ndim != 1:
            raise ValueError("Problem: x0 must be a 1-d array, got shape %s" % (x0.shape,))
        self.x0 = x0.copy()
        self.n = x0.size
        self._f = record(f, self.x0, retape=retape, guard_kinks=False)
        if np.ndim(self._f(self.x0)) != 0:
            raise TypeError("Problem: f must return a scalar, but it returned shape %s"
                            % (np.shape(self._f(self.x0)),))
        self.lb = _bounds(lb, self.n, -INFINITY, "lb")
        self.ub = _bounds(ub, self.n, INFINITY, "ub")
        if g is None:
            self.m = 0
            self._g = None
            lagrangian = lambda x, lam, sigma: sigma * f(x)  # noqa: E731
        else:
            self._g = record(g, self.x0, retape=retape, guard_kinks=False)
            g0 = np.asarray(self._g(self.x0))
            if g0.ndim != 1:
                raise TypeError("Problem: g must return a 1-d array of constraints, but it "
                                "returned shape %s" % (g0.shape,))
            self.m = g0.size
            lagrangian = lambda x, lam, sigma: sigma * f(x) + fnp.dot(lam, g(x))  # noqa: E731
        self.cl = _bounds(cl, self.m, -INFINITY, "cl")
        self.cu = _bounds(cu, self.m, INFINITY, "cu")
        self._lagrangian = record(lagrangian, self.x0, np.ones(self.m), 1.0, retape=retape,
                                  guard_kinks=False)
        self._coordinates = {}  # the coordinate arrays the callbacks last checked
        self.iter_count = 0  # (IPOPT's iterations in the last solve)
        if self.m:
            pattern = self._g.jacobian_sparsity()
            self._jacobian_structure = (pattern.row.astype(np.int64), pattern.col.astype(np.int64))
        else:
            self._jacobian_structure = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        pattern = self._lagrangian.hessian_sparsity()
        lower = pattern.row >= pattern.col
        self._hessian_structure = (pattern.row[lower].astype(np.int64),
                                   pattern.col[lower].astype(np.int64))

    # -- cyipopt's callbacks ------------------------------------------------------

    def objective(self, x):
        return float(self._f(x))

    def gradient(self, x):
        return np.asarray(self._f.gradient(np.asarray(x, np.float64)), np.float64)

    def constraints(self, x):
        if self._g is None:
            return np.zeros(0)
        return np.asarray(self._g(np.asarray(x, np.float64)), np.float64)

    def jacobianstructure(self):
        return self._jacobian_structure

    def jacobian(self, x):
        if self._g is None:
            return np.zeros(0)
        with self._g._lock:
            rows, cols, values, _ = sparsity.sparse_values(
                self._g, (np.asarray(x, np.float64),), 0, "jacobian")
        return self._checked(rows, cols, values, "jacobian", "constraint Jacobian")

    def hessianstructure(self):
        return self._hessian_structure

    def hessian(self, x, lagrange, obj_factor):
        args = (np.asarray(x, np.float64), np.asarray(lagrange, np.float64), float(obj_factor))
        with self._lagrangian._lock:
            rows, cols, values, _ = sparsity.sparse_values(self._lagrangian, args, 0, "hessian",
                                                           "lower")
        return self._checked(rows, cols, values, "hessian", "Hessian of the Lagrangian")

    def _checked(self, rows, cols, values, which, what):
        """The values, once their coordinates are the structure IPOPT was
        given (compared once per recording: the coordinate arrays are the
        same objects while the tape keeps its pattern)."""
        seen = self._coordinates.get(which)
        if seen is None or seen[0] is not rows or seen[1] is not cols:
            expected_rows, expected_cols = (self._jacobian_structure if which == "jacobian"
                                            else self._hessian_structure)
            if not (np.array_equal(rows, expected_rows) and np.array_equal(cols, expected_cols)):
                raise RuntimeError(
                    "the sparsity structure of the %s changed (%d entries instead of %d): the "
                    "function took another branch and was recorded again there; IPOPT fixes "
                    "the structure at the start. Write the branch with fastad.numpy.where, or "
                    "start from a point on the same side" % (what, len(rows), len(expected_rows)))
            self._coordinates[which] = (rows, cols)  # (held: identity stays meaningful)
        return np.asarray(values, np.float64)

    def intermediate(self, alg_mod, iter_count, obj_value, inf_pr, inf_du, mu, d_norm,
                     regularization_size, alpha_du, alpha_pr, ls_trials):
        """cyipopt's per-iteration callback: keeps the iteration count (the
        `iter_count` of `solve`'s info) and lets IPOPT go on."""
        self.iter_count = iter_count
        return True

    # -- solving ---------------------------------------------------------------------

    def solve(self, x0=None, options=None):
        """Run IPOPT from `x0` (default: the recording point) with IPOPT
        `options` (a dict: "tol", "max_iter", "print_level" ...; IPOPT's
        banner is suppressed unless "sb" is "no"); returns cyipopt's
        `(x, info)`, with IPOPT's iteration count as info["iter_count"].

        IPOPT is the library cyipopt is built against, called through its
        C interface (fastad._ipopt_c: each callback's array copied into
        IPOPT's at once, where cyipopt copies element by element) when it
        can be found in the process, else through cyipopt."""
        cyipopt = _cyipopt()
        x0 = self.x0 if x0 is None else np.array(x0, np.float64)
        if x0.shape != (self.n,):
            raise ValueError("solve: x0 must have shape (%d,), got %s" % (self.n, x0.shape))
        options = dict(options or {})
        options.setdefault("sb", "yes")
        self.iter_count = 0
        if _ipopt_c.library() is not None:
            x, info = _ipopt_c.solve(self, x0, options, _statuses())
        else:
            nlp = cyipopt.Problem(n=self.n, m=self.m, problem_obj=self, lb=self.lb, ub=self.ub,
                                  cl=self.cl, cu=self.cu)
            for key, value in options.items():
                nlp.add_option(key, value)
            x, info = nlp.solve(x0)
        info["iter_count"] = self.iter_count
        return x, info


def _statuses():
    """IPOPT's status messages by code, as cyipopt words them."""
    try:
        from cyipopt.ipopt_wrapper import STATUS_MESSAGES
        return dict(STATUS_MESSAGES)
    except ImportError:
        return {}
