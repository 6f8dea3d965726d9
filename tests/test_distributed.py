"""fastad.distributed on a real Dask LocalCluster (2 worker processes on
loopback), bounded in time."""
import os
import signal
import threading
import time

import numpy
import pytest

distributed = pytest.importorskip("dask.distributed")

import fastad as fd  # noqa: E402
import fastad.numpy as fnp  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    with distributed.Client(cluster, timeout="60s") as c:
        yield c
    cluster.close()


def logistic_loss(w, shard):
    X, y = shard
    z = X @ w
    return fnp.sum(fnp.log1p(fnp.exp(-fnp.abs(z))) + fnp.maximum(z, 0.0) - y * z)


@pytest.fixture(scope="module")
def data():
    rng = numpy.random.default_rng(0)
    X = rng.standard_normal((400, 5))
    y = (X @ rng.standard_normal(5) + 0.3 * rng.standard_normal(400) > 0).astype(float)
    return X, y, [(X[i::8], y[i::8]) for i in range(8)]


def test_grad_sum_equals_single_process(client, data):
    X, y, shards = data
    w = numpy.linspace(-0.3, 0.4, 5)
    value, grad = fd.distributed.value_and_grad_sum(logistic_loss, w, shards, client=client)
    ref_value, ref_grad = fd.value_and_grad(lambda w: logistic_loss(w, (X, y)))(w)
    numpy.testing.assert_allclose(value, ref_value, rtol=1e-12)
    numpy.testing.assert_allclose(grad, ref_grad, rtol=1e-12)
    local = fd.distributed.grad_sum(logistic_loss, w, shards)  # client=None: in process
    numpy.testing.assert_allclose(local, ref_grad, rtol=1e-12)


def test_grad_sum_with_pytree_params_and_scattered_shards(client, data):
    X, y, shards = data
    futures = client.scatter(shards)  # the data stays on the workers
    params = {"w": numpy.zeros(5), "b": 0.0}

    def loss(p, shard):
        return logistic_loss(p["w"], shard) + p["b"] ** 2
    grad = fd.distributed.grad_sum(loss, params, futures, client=client)
    ref = fd.grad(lambda p: sum(loss(p, s) for s in shards))(params)
    numpy.testing.assert_allclose(grad["w"], ref["w"], rtol=1e-12)
    assert isinstance(grad["b"], float)


def test_shards_as_dask_collections(client, data):
    import dask
    import dask.array as da
    X, y, shards = data
    w = numpy.linspace(-0.3, 0.4, 5)
    ref = fd.grad(lambda w: logistic_loss(w, (X, y)))(w)
    delayed = [dask.delayed(lambda s: s)(s) for s in shards]
    numpy.testing.assert_allclose(fd.distributed.grad_sum(logistic_loss, w, delayed, client=client),
                                  ref, rtol=1e-12)
    numpy.testing.assert_allclose(fd.distributed.grad_sum(logistic_loss, w, delayed), ref, rtol=1e-12)
    Xy = da.from_array(numpy.hstack([X, y[:, None]]), chunks=(50, 6))  # 8 row blocks

    def block_loss(w, block):
        return logistic_loss(w, (block[:, :5], block[:, 5]))
    numpy.testing.assert_allclose(fd.distributed.grad_sum(block_loss, w, Xy, client=client),
                                  ref, rtol=1e-12)


def test_tape_map_equals_looping(client):
    tape = fd.record(lambda x: fnp.sum(fnp.sin(x) * x ** 2), numpy.ones(3))
    points = [numpy.array([0.001 * i, 0.5, -0.2]) for i in range(10_000)]
    mapped = fd.distributed.tape_map(tape, points, "gradient", client=client)
    looped = numpy.stack([tape.gradient(p) for p in points])
    numpy.testing.assert_array_equal(mapped, looped)
    local = fd.distributed.tape_map(tape, points[:50], "gradient")
    numpy.testing.assert_array_equal(local, looped[:50])


def test_shard_exception_names_the_shard(client, data):
    _, _, shards = data
    shards = list(shards)
    X3, y3 = shards[3]
    shards[3] = (X3, numpy.where(numpy.arange(len(y3)) == 0, 2.0, y3))  # a bad label

    def checked(w, shard):
        _, y = shard
        # a comparison on the traced shard: recorded as a guard, so a replayed
        # tape re-runs the function (and raises) where it comes out differently
        if numpy.any(y > 1.0):
            raise ValueError("labels must be 0 or 1")
        return logistic_loss(w, shard)
    for use_tape in (False, True):
        with pytest.raises(ValueError, match="labels must be 0 or 1") as info:
            fd.distributed.grad_sum(checked, numpy.zeros(5), shards, client=client, use_tape=use_tape)
        assert any("shard 3" in note for note in getattr(info.value, "__notes__", []))


def _worker_pids(client, timeout=60.0):
    """{address: pid} of the current workers, retried while one restarts."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            client.wait_for_workers(2, timeout=timeout)
            return client.run(os.getpid)
        except Exception:
            if time.perf_counter() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.skipif(os.environ.get("FASTAD_FAULT_TESTS") != "1",
                    reason="kills a worker process; run on demand with FASTAD_FAULT_TESTS=1")
def test_killed_worker_still_gives_the_full_result(client):
    def chain(x):
        acc = x
        for k in range(100):
            acc = acc + fnp.tanh(x * 0.01 * k)
        return acc
    tape = fd.record(chain, 0.3)
    points = [0.00001 * i for i in range(150_000)]
    expected = numpy.array([tape.gradient(p) for p in points[:200]])
    pids = _worker_pids(client)
    killed = []

    def kill_one():
        time.sleep(0.3)
        pid = sorted(pids.values())[0]
        os.kill(pid, signal.SIGKILL)  # the nanny starts a new worker; Dask reruns its tasks
        killed.append(pid)
    killer = threading.Thread(target=kill_one)
    killer.start()
    start = time.perf_counter()
    mapped = fd.distributed.tape_map(tape, points, "gradient", client=client, chunk_size=1000)
    elapsed = time.perf_counter() - start
    killer.join()
    assert elapsed > 0.3, "the run ended before the kill (%.2f s): make it longer" % elapsed
    assert killed and killed[0] not in _worker_pids(client).values()
    assert mapped.shape == (150_000,)
    numpy.testing.assert_array_equal(mapped[:200], expected)
    numpy.testing.assert_array_equal(mapped[-1], tape.gradient(points[-1]))


def test_sharded_lbfgs_matches_single_process(client, data):
    X, y, shards = data
    single = fd.optimize.minimize(lambda w: logistic_loss(w, (X, y)), numpy.zeros(5),
                                  method="L-BFGS-B")
    sharded = fd.optimize.minimize(logistic_loss, numpy.zeros(5), method="L-BFGS-B",
                                   shards=shards, client=client)
    numpy.testing.assert_allclose(sharded.x, single.x, rtol=1e-6, atol=1e-8)


def test_distributed_logreg_example(client):
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "examples", "distributed_logreg.py")
    spec = importlib.util.spec_from_file_location("distributed_logreg", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    sharded, single = example.main(client)
    numpy.testing.assert_allclose(sharded.x, single.x, rtol=1e-6, atol=1e-8)
    assert sharded.success


# -- hostile input, shared objects: regressions ----------------------------------------

def test_grad_sum_twice_with_the_same_params(client, data):
    # the parameters were scattered under a content-hashed key: the second
    # call got the same key, which the first call's future then released
    # under it ("lost dependencies")
    X, y, shards = data
    w = numpy.linspace(-0.3, 0.4, 5)
    ref = fd.grad(lambda w: logistic_loss(w, (X, y)))(w)
    for _ in range(4):
        numpy.testing.assert_allclose(fd.distributed.grad_sum(logistic_loss, w, shards,
                                                              client=client), ref, rtol=1e-12)


def test_grad_sum_leaves_the_users_scattered_data_alone(client):
    # a dict of parameters was scattered under its own keys ("w", "b"): the
    # user's data of those names was replaced, or used as the parameters
    (mine,) = client.scatter({"w": numpy.zeros(3)}, broadcast=True).values()  # on every worker

    def loss(p, shard):
        return fnp.sum(shard * p["w"] ** 2) + p["b"] ** 2
    params = {"w": numpy.ones(3), "b": 2.0}
    for _ in range(2):
        grad = fd.distributed.grad_sum(loss, params, [numpy.arange(3.0)] * 2, client=client)
        numpy.testing.assert_array_equal(grad["w"], [0.0, 4.0, 8.0])
        assert grad["b"] == 8.0
        numpy.testing.assert_array_equal(mine.result(), numpy.zeros(3))


def test_closed_or_wrong_client_is_named(client, data):
    _, _, shards = data
    closed = distributed.Client(client.scheduler.address, timeout="30s")
    closed.close()
    tape = fd.record(lambda x: fnp.sum(x ** 2), numpy.ones(5))
    calls = [("grad_sum", lambda c: fd.distributed.grad_sum(logistic_loss, numpy.zeros(5),
                                                               shards, client=c)),
             ("value_and_grad_sum", lambda c: fd.distributed.value_and_grad_sum(
                 logistic_loss, numpy.zeros(5), shards, client=c)),
             ("tape_map", lambda c: fd.distributed.tape_map(tape, [numpy.ones(5)], client=c))]
    for name, call in calls:
        with pytest.raises(distributed.client.ClosedClientError,
                           match=r"%s: the Dask client is closed.*new one.*client=None" % name):
            call(closed)
        with pytest.raises(TypeError, match=r"%s: client must be a dask.distributed.Client, "
                                            r"got str.*client=None" % name):
            call(client.scheduler.address)
    with pytest.raises(TypeError, match="expected a tape from fastad.record"):
        fd.distributed.tape_map(logistic_loss, [numpy.ones(5)], client=client)


_MAIN_SCRIPT = '''
import sys
import numpy
from dask.distributed import Client
import fastad as fd
import fastad.numpy as fnp

def f(x):  # lives in this script's __main__, which the workers do not have
    if fnp.sum(x) > 0:
        return fnp.sum(fnp.sin(x) * x ** 2)
    return fnp.sum(fnp.cos(x) * x)

with Client(sys.argv[1], timeout="30s") as client:
    positive = [numpy.array([0.1 * i + 0.1, 0.2, -0.1]) for i in range(12)]
    tape = fd.record(f, numpy.ones(3))
    for method in ("gradient", "hessian"):  # hessian records the gradient: needs f
        mapped = fd.distributed.tape_map(tape, positive, method, client=client)
        numpy.testing.assert_array_equal(mapped, [getattr(tape, method)(p) for p in positive])
    both = positive + [-p for p in positive]  # the branch flips: a retape tape records again
    retape = fd.record(f, numpy.ones(3), retape=True)
    mapped = fd.distributed.tape_map(retape, both, "gradient", client=client)
    numpy.testing.assert_allclose(mapped, [fd.grad(f)(p) for p in both], rtol=1e-13)
print("ok")
'''


def test_tape_map_of_a_function_defined_in_main(client, tmp_path):
    # the tape's pickle named __main__.f, which the worker processes do not
    # have: loading the tape failed there although replay never runs f
    import subprocess
    import sys
    script = tmp_path / "main_function.py"
    script.write_text(_MAIN_SCRIPT)
    src = os.path.dirname(os.path.dirname(os.path.abspath(fd.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [src] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    done = subprocess.run([sys.executable, str(script), client.scheduler.address], env=env,
                          cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


def test_tape_map_without_a_picklable_function_replays_and_explains(client):
    lock = threading.Lock()  # a closure over a lock: the function does not pickle

    def f(x):
        with lock:
            return fnp.sum(x ** 3) if fnp.sum(x) > 0 else fnp.sum(-x)
    tape = fd.record(f, numpy.ones(3), retape=True)
    positive = [numpy.full(3, 0.1 * i + 0.1) for i in range(6)]
    mapped = fd.distributed.tape_map(tape, positive, "gradient", client=client)
    numpy.testing.assert_array_equal(mapped, [tape.gradient(p) for p in positive])
    with pytest.raises(fd.RetapeRequired) as info:  # the branch flips: recording needs f
        fd.distributed.tape_map(tape, [-p for p in positive], "gradient", client=client)
    assert any("its function does not pickle" in note for note in info.value.__notes__)


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")  # the module's cluster has it
def test_threads_of_a_worker_do_not_share_a_tape():
    # a Tape keeps its last replay's state; the threads of a worker shared
    # one (tape_map's, and grad_sum's recorded per function), and mixed their
    # inputs up: wrong results, no error
    def chain(x, y):
        acc = x
        for k in range(200):
            acc = acc + fnp.tanh(fnp.sin(x * y + 0.001 * k))
        return acc

    def loss(w, shard):
        X, y = shard
        acc = 0.0
        for k in range(20):
            acc = acc + fnp.sum(fnp.tanh(X @ w * (1.0 + 0.01 * k)) - y)
        return acc
    tape = fd.record(chain, 0.3, 0.7)
    points = [(0.0005 * i, 0.7) for i in range(2000)]
    expected = numpy.array([tape.gradient(*p) for p in points])
    rng = numpy.random.default_rng(1)
    shards = [(rng.standard_normal((100, 4)), rng.standard_normal(100)) for _ in range(24)]
    w = numpy.linspace(-1.0, 1.0, 4)
    ref = fd.distributed.grad_sum(loss, w, shards)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=4, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as threaded:
        for _ in range(2):
            mapped = fd.distributed.tape_map(tape, points, "gradient", client=threaded,
                                             chunk_size=25)
            numpy.testing.assert_array_equal(numpy.stack(mapped, axis=-1), expected)
            numpy.testing.assert_allclose(fd.distributed.grad_sum(loss, w, shards,
                                                                  client=threaded),
                                          ref, rtol=1e-10)
