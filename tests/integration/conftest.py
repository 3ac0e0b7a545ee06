from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API (temporary SQLite database) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray for the session (starting it costs several seconds)."""
    import ray

    from arlm.training.ray_launcher import ensure_ray

    ensure_ray(None)
    yield
    ray.shutdown()
