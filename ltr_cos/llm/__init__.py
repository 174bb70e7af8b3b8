"""COS-DPO for causal language models: preference data, LoRA + hyper-prompt policy, Lightning module.

Heavy imports (transformers, peft, Lightning) happen when a submodule is imported, not here.
"""

__all__ = ["accuracy", "checkpoint", "data", "datamodule", "generate", "loading", "model", "module", "pareto",
           "rules", "smollm2", "tiny"]
