"""Logistic regression over 8 shards on a Dask cluster, fitted by L-BFGS
with fastad's sharded gradients, and checked against one process.

    pip install ".[distributed]"
    python examples/distributed_logreg.py            # starts a 2-worker LocalCluster

The same code runs on a multi-node cluster: pass its Client instead.
"""
import time

import numpy as np

import fastad as fd
import fastad.numpy as fnp


def loss(w, shard):
    X, y = shard
    z = X @ w
    return fnp.sum(fnp.log1p(fnp.exp(-fnp.abs(z))) + fnp.maximum(z, 0.0) - y * z) + 0.5 * 1e-3 * fnp.sum(w * w) / 8


def make_data(n=8_000, d=20, shards=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = (X @ w_true + 0.5 * rng.standard_normal(n) > 0).astype(float)
    return X, y, [(X[i::shards], y[i::shards]) for i in range(shards)]


def main(client=None):
    from dask.distributed import Client, LocalCluster
    X, y, shards = make_data()
    own = client is None
    if own:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
        client = Client(cluster)
    try:
        shard_futures = client.scatter(shards)  # the data lives on the workers
        start = time.perf_counter()
        sharded = fd.optimize.minimize(loss, np.zeros(X.shape[1]), method="L-BFGS-B",
                                       shards=shard_futures, client=client)
        t_sharded = time.perf_counter() - start
        start = time.perf_counter()
        single = fd.optimize.minimize(lambda w: sum(loss(w, s) for s in shards),
                                      np.zeros(X.shape[1]), method="L-BFGS-B")
        t_single = time.perf_counter() - start
        accuracy = np.mean((X @ sharded.x > 0) == (y > 0.5))
        print("sharded on %d workers: %d iterations, loss %.6f, %.2f s"
              % (len(client.scheduler_info()["workers"]), sharded.nit, sharded.fun, t_sharded))
        print("single process:        %d iterations, loss %.6f, %.2f s"
              % (single.nit, single.fun, t_single))
        print("max |w_sharded - w_single| = %.2e, training accuracy %.3f"
              % (np.max(np.abs(sharded.x - single.x)), accuracy))
        return sharded, single
    finally:
        if own:
            client.close()
            cluster.close()


if __name__ == "__main__":
    main()
