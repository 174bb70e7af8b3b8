"""The typed configuration of a ranker: everything needed to rebuild it and to use it correctly.

One frozen ``RankerConfig`` holds the architecture, its sizes, the conditioning path, and the facts the
ranker was trained on (objective names, weighted objectives, source feature ids, normalisation
statistics, the temperature range). ``Ranker`` is built from it; checkpoints and artifact sidecars store
``to_dict()`` (with ``format_version``) and read it back with ``RankerConfig.from_dict`` alone. Nothing
here imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ltr_cos.errors import InputError

# Bump when a field changes meaning or a required field is added; older records are refused.
RANKER_CONFIG_VERSION = 1
ARCHS = ("mlp", "transformer")
CONDITIONINGS = ("concat", "film", "prompt")
# Hidden width of the FiLM and prompt networks. 256, not 64: on synthetic MSLR data a wider FiLM network
# lifted COS-DPO from 0.96 to 1.02 of DPO-LS's hypervolume, at no loss on MQ2008 (docs/benchmarks.md, "Ablations").
DEFAULT_COND_HIDDEN = 256


@dataclass(frozen=True)
class RankerConfig:
    """Architecture and training facts of one ranker.

    Attributes:
        n_features: F, model inputs per candidate.
        arch: ``mlp`` (per-candidate) or ``transformer`` (context-aware, allRank design); docs/method.md §7.
        hidden_sizes: MLP hidden widths.
        d_model, n_heads, n_layers, dim_feedforward: transformer sizes.
        dropout: dropout of the backbone.
        conditioning: ``None`` (unconditioned), ``concat``, ``film`` or ``prompt`` (docs/method.md §6).
        n_weights: m, the length of the weight vector the ranker is conditioned on.
        temperature_conditioning: log(beta) is a model input too (Temperature-COS-DPO, docs/method.md §5).
        n_prompts: prompt vectors of the ``prompt`` path.
        cond_hidden: hidden width of the FiLM and prompt MLPs.
        normalization: feature normalisation statistics ({kind, mean[F], std[F]}) or None (identity).
        objective_names: every objective of the data, main first.
        weighted_objectives: the objectives the weights weigh, in weight order.
        feature_ids: 1-based source feature ids of the F inputs (None = 1..F).
        n_source_features: the widest feature id of the training data (objective columns included); a file
            with larger ids is refused at scoring time.
        beta_range: (beta_min, beta_max) a temperature-conditioned ranker was trained on.
    """

    n_features: int
    arch: str = "mlp"
    hidden_sizes: tuple[int, ...] = (128, 64)
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dim_feedforward: int = 128
    dropout: float = 0.1
    conditioning: str | None = None
    n_weights: int = 0
    temperature_conditioning: bool = False
    n_prompts: int = 4
    cond_hidden: int = DEFAULT_COND_HIDDEN
    normalization: dict | None = field(default=None, compare=True, hash=False)
    objective_names: tuple[str, ...] = ()
    weighted_objectives: tuple[str, ...] = ()
    feature_ids: tuple[int, ...] | None = None
    n_source_features: int | None = None
    beta_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        # normalise JSON lists to tuples so configs compare equal however they were read
        set_ = object.__setattr__
        set_(self, "n_features", int(self.n_features))
        set_(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        set_(self, "objective_names", tuple(self.objective_names))
        set_(self, "weighted_objectives", tuple(self.weighted_objectives))
        if self.feature_ids is not None:
            set_(self, "feature_ids", tuple(int(i) for i in self.feature_ids))
        if self.beta_range is not None:
            set_(self, "beta_range", (float(self.beta_range[0]), float(self.beta_range[1])))
        if self.n_features < 1:
            raise InputError(f"n_features must be >= 1, got {self.n_features}")
        if self.arch not in ARCHS:
            raise InputError(f"unknown ranker arch {self.arch!r}; choose one of {list(ARCHS)}")
        if self.conditioning is not None and self.conditioning not in CONDITIONINGS:
            raise InputError(f"unknown conditioning {self.conditioning!r}; choose None or one of {list(CONDITIONINGS)}")
        if self.n_weights < 0:
            raise InputError(f"n_weights must be >= 0, got {self.n_weights}")
        if self.feature_ids is not None and len(self.feature_ids) != self.n_features:
            raise InputError(f"feature_ids lists {len(self.feature_ids)} ids but n_features is {self.n_features}")
        if self.weighted_objectives and self.conditioning is not None and self.n_weights and \
                len(self.weighted_objectives) != self.n_weights:
            raise InputError(f"weighted_objectives {list(self.weighted_objectives)} do not match n_weights "
                             f"{self.n_weights}")

    @property
    def cond_dim(self) -> int:
        """Length of the condition vector c = [weights, log beta]."""
        return 0 if self.conditioning is None else self.n_weights + int(self.temperature_conditioning)

    def backbone_args(self) -> dict[str, Any]:
        """The fields that fix the backbone's function (compared when a policy copies its reference)."""
        keys = ("n_features", "arch", "hidden_sizes") if self.arch == "mlp" else (
            "n_features", "arch", "d_model", "n_heads", "n_layers", "dim_feedforward")
        return {k: getattr(self, k) for k in keys}

    def conditioned_on(self, conditioning: str | None, n_weights: int, temperature_conditioning: bool = False,
                       **sizes: Any) -> RankerConfig:
        """A copy with another conditioning path (a policy built on this reference configuration)."""
        return replace(self, conditioning=conditioning, n_weights=n_weights,
                       temperature_conditioning=temperature_conditioning, **sizes)

    def replace(self, **changes: Any) -> RankerConfig:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able record with ``format_version`` (what checkpoints and sidecars store)."""
        record = asdict(self)
        for key in ("hidden_sizes", "objective_names", "weighted_objectives", "feature_ids", "beta_range"):
            if record[key] is not None:
                record[key] = list(record[key])
        return {"format_version": RANKER_CONFIG_VERSION, **record}

    @classmethod
    def from_dict(cls, record: dict[str, Any], source: str | None = None) -> RankerConfig:
        """Read a record written by ``to_dict``; the one place ranker configurations are read back.

        Raises:
            InputError: a record of another format version (e.g. a checkpoint of an older ltr_cos), or
                one with unknown or missing fields.
        """
        if not isinstance(record, dict):
            raise InputError("the ranker configuration is not a mapping", source)
        version = record.get("format_version")
        if version != RANKER_CONFIG_VERSION:
            raise InputError(
                f"ranker configuration format_version {version!r} is not supported by this ltr_cos (expects "
                f"{RANKER_CONFIG_VERSION}): it was written by another version; retrain or re-export with this one",
                source)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(record) - known - {"format_version"})
        if unknown:
            raise InputError(f"unknown ranker configuration fields {unknown}", source)
        try:
            return cls(**{k: v for k, v in record.items() if k != "format_version"})
        except TypeError as exc:
            raise InputError(f"invalid ranker configuration ({exc})", source) from None
