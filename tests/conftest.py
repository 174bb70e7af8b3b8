"""Shared fixtures: the real data in ../shared (skipped with a reason in a user's clone), tiny seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The suite runs on a shared 2-core machine. OpenMP threads that spin while they wait take the cores other
# jobs need (a busy machine then stretches the suite several times over), and the tests' tiny models gain
# nothing from a second thread. Set before torch is imported; subprocesses (CLI tests) inherit them.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_REAL = Path(os.environ.get("LTR_COS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def shared_real() -> Path:
    """Folder of the real LETOR-format files (MQ2008 S1-S5, CRLF copies, Yahoo sample, MSLR rows)."""
    if not (SHARED_REAL / "mq2008" / "S1.txt").exists():
        pytest.skip(f"real ranking data not found at {SHARED_REAL} (set LTR_COS_SHARED_DATA to the folder that "
                    "holds mq2008/S1.txt ... to run these tests)")
    return SHARED_REAL


@pytest.fixture()
def all_cores():
    """For the few tests with a real model (SmolLM2): every core, while the rest of the suite keeps one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def one_thread():
    """Tiny models run fastest on one thread, and the test machine is shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
