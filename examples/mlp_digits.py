"""Train the lecture network on scikit-learn's bundled handwritten digits.

affine -> relu -> affine -> logistic (softmax + cross-entropy), plus weight
decay lambda/2 (||W1||^2 + ||W2||^2), trained by mini-batch Adam with
fastad's gradients.  A quarter of the 1,797 images is held out for testing.

    pip install ".[examples]"      # scikit-learn (and matplotlib for the plot)
    python examples/mlp_digits.py [--epochs 30] [--plot mlp_digits.png]
"""
import argparse
import time

import numpy as np

import fastad as fd
from fastad import nn


def load(seed=0):
    from sklearn.datasets import load_digits
    digits = load_digits()
    X = digits.data / 16.0
    T = np.eye(10)[digits.target]
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = len(X) // 4
    test, train = order[:n_test], order[n_test:]
    return X[train], T[train], X[test], T[test]


def loss(params, X, T, lam):
    scores = nn.mlp(params, X)
    return nn.logistic(scores, T) + nn.decay([layer["W"] for layer in params], lam)


def accuracy(params, X, T):
    return float(np.mean(np.argmax(nn.mlp(params, X), axis=1) == np.argmax(T, axis=1)))


def train(epochs=30, batch=32, hidden=128, lr=3e-3, lam=1e-4, seed=0, verbose=True):
    X, T, X_test, T_test = load(seed)
    rng = np.random.default_rng(seed)
    params = nn.init_mlp([X.shape[1], hidden, 10], rng)
    opt = fd.optim.adam(lr)
    value_and_grad = fd.value_and_grad(loss)
    history = {"loss": [], "train_accuracy": [], "test_accuracy": []}
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(X))
        losses = []
        for i in range(0, len(X), batch):
            idx = order[i:i + batch]
            value, grads = value_and_grad(params, X[idx], T[idx], lam)
            params = opt.step(params, grads)
            losses.append(value)
        history["loss"].append(float(np.mean(losses)))
        history["train_accuracy"].append(accuracy(params, X, T))
        history["test_accuracy"].append(accuracy(params, X_test, T_test))
        if verbose:
            print("epoch %3d  loss %.4f  train %.3f  test %.3f  (%.1f s)" % (
                epoch, history["loss"][-1], history["train_accuracy"][-1],
                history["test_accuracy"][-1], time.perf_counter() - start))
    return params, history


def plot(history, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib)")
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = range(1, len(history["loss"]) + 1)
    ax1.plot(epochs, history["loss"])
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.set_yscale("log")
    ax2.plot(epochs, history["train_accuracy"], label="train")
    ax2.plot(epochs, history["test_accuracy"], label="test (held-out quarter)")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--plot", default="mlp_digits.png")
    args = parser.parse_args(argv)
    _, history = train(args.epochs)
    print("test accuracy: %.4f" % history["test_accuracy"][-1])
    if plot(history, args.plot):
        print("wrote", args.plot)
    return history


if __name__ == "__main__":
    main()
