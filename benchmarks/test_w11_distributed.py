"""W11: fastad.distributed.tape_map on a 2-worker Dask LocalCluster —
10,000 gradient evaluations of a recorded 10,000-op scalar tape, against
the same evaluations in one in-process loop.  The tape goes to each worker
once (its pickled size is reported)."""
import numpy as np
import pytest

from benchmarks.common import QUICK, check, peer, run
from benchmarks.test_w1_scalar_chain import chain

N_EVALS = 2_000 if QUICK else 10_000
GROUP = "W11 Dask tape_map: %d gradients of a 10,000-op tape" % N_EVALS


@pytest.fixture(scope="module")
def tape():
    import fastad
    import fastad.numpy as fnp
    return fastad.record(lambda x, y: chain(x, y, fnp.sin, fnp.exp, fnp.log, fnp.tanh), 0.3, 0.7)


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(0)
    return [(float(a), float(b)) for a, b in rng.uniform(0.1, 0.9, (N_EVALS, 2))]


@pytest.fixture(scope="module")
def client():
    distributed = peer("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_in_process_loop(benchmark, tape, points):
    import fastad
    run(benchmark, GROUP, "one process (loop of tape.gradient)", "limit",
        fastad.distributed.tape_map, tape, points, "gradient", rounds=2 if QUICK else 5)


def test_tape_map_two_workers(benchmark, tape, points, client):
    import fastad
    result = fastad.distributed.tape_map(tape, points, "gradient", client=client)
    expected = fastad.distributed.tape_map(tape, points[:100], "gradient")
    check([r[:100] for r in result], expected, rtol=0, atol=0)  # (dx, dy), each stacked
    benchmark.extra_info["bytes_per_worker"] = fastad.distributed.bytes_per_worker(tape)
    benchmark.extra_info["workers"] = 2
    run(benchmark, GROUP, "fastad.distributed.tape_map, 2 workers", "subject",
        fastad.distributed.tape_map, tape, points, "gradient", client, rounds=2 if QUICK else 5)
