"""Minimise the Rosenbrock function with scipy.optimize through fastad.

The function is written once, as NumPy code; fastad.optimize records it on
a tape and supplies scipy with its gradient (L-BFGS-B) and Hessian-vector
products (Newton-CG) by replaying that tape.  The same runs with scipy's
hand-written rosen_der / rosen_hess_prod are printed beside them.

    python examples/rosenbrock.py [--n 100]
"""
import argparse
import time

import numpy as np
import scipy.optimize

import fastad as fd
import fastad.numpy as fnp


def rosen(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100, help="dimension (default 100)")
    args = parser.parse_args(argv)
    x0 = np.full(args.n, -1.2)
    results = {}
    for method in ("L-BFGS-B", "Newton-CG"):
        start = time.perf_counter()
        ours = fd.optimize.minimize(rosen, x0, method=method)
        ours_seconds = time.perf_counter() - start
        extra = {"hessp": scipy.optimize.rosen_hess_prod} if method == "Newton-CG" else {}
        start = time.perf_counter()
        theirs = scipy.optimize.minimize(scipy.optimize.rosen, x0, jac=scipy.optimize.rosen_der,
                                         method=method, **extra)
        theirs_seconds = time.perf_counter() - start
        print("%-9s fastad: f = %.3g after %d iterations (%.0f ms); hand-written: f = %.3g "
              "after %d iterations (%.0f ms)" % (method, ours.fun, ours.nit, 1e3 * ours_seconds,
                                                 theirs.fun, theirs.nit, 1e3 * theirs_seconds))
        results[method] = (ours, theirs)
    return results


if __name__ == "__main__":
    main()
