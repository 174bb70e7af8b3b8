"""COS-DPO for causal language models: preference data, LoRA + hyper-prompt policy, Lightning module.

Heavy imports (transformers, peft, Lightning) happen when a submodule is imported, not here.
"""

__all__ = ["data", "generate", "loading", "model", "module", "pareto", "rules", "smollm2", "tiny"]
