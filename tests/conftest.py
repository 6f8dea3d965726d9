import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(1234)

try:
    from hypothesis import HealthCheck, settings

    # the bounded profile runs in CI; `--hypothesis-profile=long` runs 10,000 programs
    settings.register_profile("ci", max_examples=60, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("long", max_examples=10_000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("ci")
except ImportError:  # hypothesis is in the test extras; without it the fuzz tests skip
    pass
