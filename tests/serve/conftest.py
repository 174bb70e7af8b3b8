"""Session fixtures of the service tests: one dataset, three artifacts and one profile."""

from __future__ import annotations

import pytest

from tests.serve import helpers


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """Paths: dataset folder, temperature artifact, weights-only artifact, reference artifact, profile."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("serve")
    data = helpers.make_dataset(root)
    paths = {
        "data": data,
        "model": helpers.make_artifact(data, root / "model"),
        "weights_only": helpers.make_artifact(data, root / "weights_only", beta=False, seed=1),
        "reference": helpers.make_artifact(data, root / "reference", beta=False, conditioned=False, seed=2),
    }
    paths["pareto"] = helpers.make_profile(data, paths["model"], paths["reference"], root / "pareto")
    torch.set_num_threads(threads)
    return paths
