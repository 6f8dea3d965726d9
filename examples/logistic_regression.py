"""Fit an L2-regularised logistic regression by L-BFGS with fastad's
gradient, on scikit-learn's bundled breast-cancer data (569 patients, 30
features), and compare with scikit-learn's own solver on the same loss.

    pip install ".[examples]"
    python examples/logistic_regression.py
"""
import time

import numpy as np

import fastad as fd
import fastad.numpy as fnp

C = 1.0  # scikit-learn's inverse regularisation strength


def loss(params, X, y):
    """sum_i log(1 + exp(-s_i z_i)) + |w|^2 / (2 C), with s = 2 y - 1: the
    objective scikit-learn's LogisticRegression(C=C) minimises."""
    z = X @ params["w"] + params["b"]
    margin = (2.0 * y - 1.0) * z
    # log(1 + e^-m), finite for any margin
    return fnp.sum(fnp.logaddexp(0.0, -margin)) + fnp.sum(params["w"] ** 2) / (2.0 * C)


def load():
    from sklearn.datasets import load_breast_cancer
    data = load_breast_cancer()
    X = (data.data - data.data.mean(axis=0)) / data.data.std(axis=0)
    return X, data.target.astype(float)


def main(argv=None):
    X, y = load()
    params0 = {"w": np.zeros(X.shape[1]), "b": 0.0}
    start = time.perf_counter()
    result = fd.optimize.minimize(loss, params0, args=(X, y), method="L-BFGS-B",
                                  options={"gtol": 1e-10, "ftol": 1e-14})
    seconds = time.perf_counter() - start
    w, b = result.x["w"], result.x["b"]
    accuracy = np.mean(((X @ w + b) > 0) == (y > 0.5))
    print("fastad + L-BFGS-B: loss %.6f after %d iterations (%.0f ms), training accuracy %.3f"
          % (result.fun, result.nit, 1e3 * seconds, accuracy))
    from sklearn.linear_model import LogisticRegression
    reference = LogisticRegression(C=C, tol=1e-10, max_iter=10_000).fit(X, y)
    difference = max(np.max(np.abs(reference.coef_[0] - w)), abs(reference.intercept_[0] - b))
    print("scikit-learn's solver on the same loss: coefficients agree to %.1e" % difference)
    return result, reference


if __name__ == "__main__":
    main()
