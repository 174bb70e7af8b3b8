"""Objective specifications, presets, and samplers for the weight simplex.

Objective 0 is the main objective (the row label). Auxiliary objectives come from feature columns
(1-based LibSVM feature ids) with a transform fitted on the train split only.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from ltr_cos.errors import InputError

if TYPE_CHECKING:  # torch is imported where it is used, so the data tools start without it
    import torch
    from torch import Tensor

Transform = Literal["raw", "log1p", "quantile"]


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective.

    Attributes:
        name: short name used in logs and reports (``relevance``, ``quality``...).
        feature_id: 1-based LibSVM feature id the labels come from; ``None`` = the row label.
        transform: ``raw``, ``log1p`` or ``quantile`` (bins to grades 0..n_bins-1, fitted on train).
        invert: flip the direction (smaller raw value = better) before the transform.
        n_bins: number of grades for the quantile transform.
    """

    name: str
    feature_id: int | None = None
    transform: Transform = "raw"
    invert: bool = False
    n_bins: int = 5

    def __post_init__(self) -> None:
        if self.transform not in ("raw", "log1p", "quantile"):
            raise ValueError(f"objective {self.name!r}: unknown transform {self.transform!r}")
        if self.feature_id is not None and self.feature_id < 1:
            raise ValueError(f"objective {self.name!r}: feature ids are 1-based, got {self.feature_id}")
        if self.n_bins < 2:
            raise ValueError(f"objective {self.name!r}: n_bins must be >= 2, got {self.n_bins}")

    @property
    def is_main(self) -> bool:
        return self.feature_id is None

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """``f28inv (feature 28, quantile, inverted)``: the spec in words, for reports."""
        where = "label" if self.feature_id is None else f"feature {self.feature_id}"
        return f"{self.name} ({where}, {self.transform}{', inverted' if self.invert else ''})"

    @classmethod
    def from_dict(cls, d: dict) -> ObjectiveSpec:
        return cls(**d)


MAIN = ObjectiveSpec("relevance")

# MSLR-WEB10K/30K feature list (Microsoft LETOR 4.0/MSLR documentation): 132 QualityScore,
# 133 QualityScore2, 134 query-url click count, 135 url click count, 136 url dwell time, 130 PageRank.
PRESETS: dict[str, tuple[ObjectiveSpec, ...]] = {
    "none": (MAIN,),
    "mslr": (
        MAIN,
        ObjectiveSpec("quality", 132, "quantile"),
        ObjectiveSpec("quality2", 133, "quantile"),
        ObjectiveSpec("query_url_clicks", 134, "quantile"),
        ObjectiveSpec("url_clicks", 135, "quantile"),
        ObjectiveSpec("dwell_time", 136, "quantile"),
    ),
    # The two-auxiliary MSLR variant used by benchmarks (m = 2, an 11-point grid).
    "mslr2": (
        MAIN,
        ObjectiveSpec("quality", 132, "quantile"),
        ObjectiveSpec("url_clicks", 135, "quantile"),
    ),
    # LETOR 4.0 (MQ2007/MQ2008) feature list: 41 PageRank, 42 inlink number, 43 outlink number,
    # 44 number of slashes in URL, 45 length of URL, 46 number of child pages.
    "mq2008": (
        MAIN,
        ObjectiveSpec("short_url", 45, "quantile", invert=True),
        ObjectiveSpec("child_pages", 46, "quantile"),
    ),
}


def preset(name: str) -> tuple[ObjectiveSpec, ...]:
    """Return the objective specs of a preset by name, with a clear error for unknown names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown objectives preset {name!r}; choose one of {sorted(PRESETS)}") from None


OBJECTIVE_SPEC_FORMAT = "NAME=FEATURE_ID[:raw|log1p|quantile][:invert][:bins=N]"


def parse_objective_spec(text: str) -> ObjectiveSpec:
    """``"f28inv=28:quantile:invert:bins=3"`` -> an auxiliary ``ObjectiveSpec``; the one spec parser.

    Raises:
        InputError: naming the part of the spec that is wrong.
    """
    where = f"--objective {text!r}"
    name, sep, rest = str(text).partition("=")
    name = name.strip()
    if not sep or not name:
        raise InputError(f"{where}: expected {OBJECTIVE_SPEC_FORMAT}, e.g. f31=31:quantile")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise InputError(f"{where}: name {name!r} must be letters, digits, '_' or '-'")
    parts = [part.strip() for part in rest.split(":")]
    try:
        feature_id = int(parts[0])
    except ValueError:
        raise InputError(f"{where}: feature id {parts[0]!r} is not a whole number (1-based LibSVM feature id)") from None
    if feature_id < 1:
        raise InputError(f"{where}: feature id {feature_id} must be >= 1 (LibSVM feature ids are 1-based)")
    options: dict = {}
    for part in parts[1:]:
        key = part.split("=", 1)[0]
        if key in options or (key in ("raw", "log1p", "quantile") and "transform" in options):
            raise InputError(f"{where}: {part!r} given twice (or two transforms)")
        if part in ("raw", "log1p", "quantile"):
            options["transform"] = part
        elif part == "invert":
            options["invert"] = True
        elif key == "bins":
            try:
                options["bins"] = int(part.split("=", 1)[1])
            except (IndexError, ValueError):
                raise InputError(f"{where}: {part!r} must be bins=N with a whole number N >= 2") from None
            if options["bins"] < 2:
                raise InputError(f"{where}: {part!r}: bins must be >= 2")
        else:
            raise InputError(f"{where}: unknown part {part!r}; expected raw, log1p, quantile, invert or bins=N")
    if "bins" in options and options.get("transform") != "quantile":
        raise InputError(f"{where}: bins=N needs the quantile transform")
    return ObjectiveSpec(name, feature_id, options.get("transform", "raw"), options.get("invert", False),
                         options.get("bins", 5))


def objectives_from_file(path: str) -> tuple[ObjectiveSpec, ...]:
    """Auxiliary objectives from a YAML (or JSON) file: a list, or ``objectives:`` holding a list, of spec
    strings (``f31=31:quantile``) or mappings with ``name``, ``feature_id`` and optionally ``transform``,
    ``invert``, ``n_bins``."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise InputError(f"cannot read objectives file ({exc.strerror})", path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML ({getattr(exc, 'problem', None) or str(exc).splitlines()[0]})", path,
                         None if mark is None else mark.line + 1) from None
    if isinstance(data, dict) and set(data) == {"objectives"}:
        data = data["objectives"]
    if not isinstance(data, list) or not data:
        raise InputError("expected a list of objectives (or 'objectives:' holding one)", path)
    specs = []
    for i, item in enumerate(data, 1):
        if isinstance(item, str):
            try:
                specs.append(parse_objective_spec(item))
            except InputError as exc:
                raise InputError(f"objective {i}: {exc}", path) from None
            continue
        allowed = {"name", "feature_id", "transform", "invert", "n_bins"}
        if not isinstance(item, dict) or not {"name", "feature_id"} <= set(item) or set(item) - allowed:
            raise InputError(f"objective {i} must be a spec string or a mapping with name and feature_id "
                             f"(and optionally transform, invert, n_bins), got {item!r}", path)
        if not isinstance(item["feature_id"], int) or isinstance(item["feature_id"], bool):
            raise InputError(f"objective {i}: feature_id must be a whole number, got {item['feature_id']!r}", path)
        try:
            specs.append(ObjectiveSpec(**{**item, "name": str(item["name"])}))
        except (TypeError, ValueError) as exc:
            raise InputError(f"objective {i}: {exc}", path) from None
    return tuple(specs)


def objectives_from_options(objectives: str | None, objective: list[str] | None,
                            default: str | None = "none") -> str | tuple[ObjectiveSpec, ...] | None:
    """What ``--objectives`` (a preset name or a YAML file) and repeated ``--objective`` specs ask for.

    Returns:
        A preset name, or the specs with the main objective (the row label) first; ``default`` when
        neither option is given.

    Raises:
        InputError: both options, an unknown preset, or a bad spec.
    """
    if objective and objectives is not None:
        raise InputError("give --objectives (a preset or a YAML file) or --objective specs, not both")
    if objective:
        return (MAIN, *(parse_objective_spec(text) for text in objective))
    if objectives is None:
        return default
    if objectives.endswith((".yaml", ".yml", ".json")):
        return (MAIN, *objectives_from_file(objectives))
    if objectives not in PRESETS:
        raise InputError(f"unknown objectives preset {objectives!r}; choose one of {sorted(PRESETS)}, give a "
                         f"YAML file, or --objective {OBJECTIVE_SPEC_FORMAT}")
    return objectives


def add_objective_options(parser, default_help: str) -> None:
    """Add ``--objectives`` and the repeatable ``--objective`` to an argparse parser (read them with
    ``objectives_from_options``)."""
    parser.add_argument("--objectives", default=None, metavar="PRESET|FILE.yaml",
                        help=f"objectives preset ({', '.join(sorted(PRESETS))}) or a YAML file of objectives "
                        f"(default: {default_help})")
    parser.add_argument("--objective", action="append", default=[], metavar="SPEC",
                        help=f"an auxiliary objective from a feature column, {OBJECTIVE_SPEC_FORMAT} "
                        "(repeatable; e.g. --objective f31=31:quantile --objective f28inv=28:quantile:invert)")


# One tolerance for "sums to 1" everywhere (CLI, loader, server, training): weights typed with a few
# decimals (0.333,0.333,0.334) pass, float32 round-off passes, a typo (0.3,0.6) does not.
SIMPLEX_TOLERANCE = 1e-4


def check_simplex(weights, m: int | None = None, names=None, what: str = "weights") -> np.ndarray:
    """Check that ``weights`` lie on the probability simplex; the one simplex check of ltr_cos.

    Args:
        weights: [m] or [B, m] numbers.
        m: the required number of values per row (None = any).
        names: the weighted objectives' names, quoted in the message on a length mismatch.
        what: how the message names the value (``weights``, ``--weights``, ``fixed_weights``...).

    Returns:
        float64 array of the same shape.

    Raises:
        InputError: wrong length or shape, NaN or inf, a negative value, or a sum further than
            ``SIMPLEX_TOLERANCE`` from 1 (each message names the problem and the value).
    """
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numbers, got {weights!r}") from None
    if w.ndim not in (1, 2) or w.shape[-1] == 0:
        raise InputError(f"{what} must be [m] or [B, m] numbers, got shape {w.shape}")
    if m is not None and w.shape[-1] != m:
        listed = f" ({', '.join(map(str, names))})" if names else ""
        raise InputError(f"{what} must have {m} values{listed}, got {w.shape[-1]}")
    if not np.isfinite(w).all():
        raise InputError(f"{what} must be finite numbers (found NaN or inf): {w.tolist()}")
    if (w < 0).any():
        row = w if w.ndim == 1 else w[(w < 0).any(-1)][0]
        raise InputError(f"{what} must be non-negative, got {row.tolist()}")
    sums = w.sum(-1)
    bad = np.abs(sums - 1.0) > SIMPLEX_TOLERANCE
    if np.any(bad):
        total = float(np.atleast_1d(sums)[np.atleast_1d(bad)][0])
        raise InputError(f"{what} must sum to 1 (within {SIMPLEX_TOLERANCE:g}), got sum {total:.6g}")
    return w


def parse_weights(text: str, m: int | None = None, names=None, what: str = "--weights") -> list[float]:
    """``"0.3,0.7"`` -> [0.3, 0.7], checked with ``check_simplex``; the one weights parser of ltr_cos."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise InputError(f"{what} must be comma-separated numbers such as 0.3,0.7, got {text!r}") from None
    return check_simplex(values, m, names, what).tolist()


def simplex_lattice(m: int, steps: int) -> np.ndarray:
    """All points of the simplex over ``m`` objectives with coordinates in multiples of ``1/steps``.

    Returns:
        float64 [G, m] with G = C(steps + m - 1, m - 1), rows in lexicographic order.
        (m=2, steps=10: 11 points; m=3, steps=10: 66; m=5, steps=4: 70.)
    """
    if m < 1 or steps < 1:
        raise ValueError(f"simplex_lattice needs m >= 1 and steps >= 1, got m={m}, steps={steps}")
    points = []
    for bars in itertools.combinations(range(steps + m - 1), m - 1):
        # stars and bars: gaps between bar positions give the integer composition of `steps`
        edges = (-1, *bars, steps + m - 1)
        points.append([edges[i + 1] - edges[i] - 1 for i in range(m)])
    grid = np.asarray(points, dtype=np.float64) / steps
    assert len(grid) == math.comb(steps + m - 1, m - 1)
    return grid[::-1].copy() if m > 1 else grid


def grid_step_to_steps(grid_step: float) -> int:
    """Convert a grid step such as 0.1 to an integer number of steps (10), refusing non-divisors of 1."""
    steps = round(1.0 / grid_step)
    if steps < 1 or abs(steps * grid_step - 1.0) > 1e-6:
        raise ValueError(f"grid step {grid_step} must divide 1 (0.5, 0.25, 0.1, ...)")
    return steps


def sample_weights(
    batch_size: int,
    m: int,
    alpha: float = 1.0,
    per_query: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Sample weights from Dirichlet(alpha * 1_m).

    Returns:
        float32 [batch_size, m], each row on the simplex; one shared row when ``per_query`` is False.
    """
    import torch

    if alpha <= 0:
        raise ValueError(f"Dirichlet alpha must be > 0, got {alpha}")
    rows = batch_size if per_query else 1
    # Dirichlet via normalised Gamma draws, so a torch.Generator makes it reproducible.
    gamma = torch._standard_gamma(torch.full((rows, m), float(alpha), dtype=torch.float64), generator=generator) \
        if generator is not None else torch._standard_gamma(torch.full((rows, m), float(alpha), dtype=torch.float64))
    gamma = gamma.clamp_min(1e-30)
    weights = (gamma / gamma.sum(-1, keepdim=True)).to(torch.float32)
    if not per_query:
        weights = weights.expand(batch_size, m).clone()
    return weights.to(device) if device is not None else weights


def sample_log_beta(
    batch_size: int,
    beta_min: float = 0.1,
    beta_max: float = 10.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Sample log(beta) uniformly in [log beta_min, log beta_max]; float32 [batch_size]."""
    import torch

    if not 0 < beta_min <= beta_max:
        raise ValueError(f"need 0 < beta_min <= beta_max, got {beta_min}, {beta_max}")
    u = torch.rand(batch_size, generator=generator, dtype=torch.float64)
    lo, hi = math.log(beta_min), math.log(beta_max)
    out = (lo + (hi - lo) * u).to(torch.float32)
    return out.to(device) if device is not None else out


def step_generator(step: int, rank: int = 0) -> torch.Generator:
    """A CPU generator seeded from (global seed, optimiser step, process rank) alone.

    Lightning's checkpoints do not hold the global RNG, so draws made from this generator are the same in
    a run resumed from a checkpoint as in an uninterrupted one, and differ between DDP processes.
    """
    import torch

    seed = (torch.initial_seed() + 1_000_003 * int(step) + 7_919 * int(rank)) % 2**63
    return torch.Generator().manual_seed(seed)


class ConditionSampler:
    """Draws the training conditions of one batch: weights [B, m], beta [B] and log beta [B] (or None).

    A sampler decides what the policy is conditioned on (``conditions_on_weights``,
    ``conditions_on_beta``) and therefore its inputs. Draws come from ``step_generator(step, rank)``,
    so a resumed run draws what an uninterrupted one would have. Subclasses implement ``_weights``.
    """

    conditions_on_weights: bool = True

    def __init__(self, beta_min: float | None = None, beta_max: float | None = None) -> None:
        if (beta_min is None) != (beta_max is None):
            raise ValueError("set both beta_min and beta_max (Temperature-COS-DPO) or neither")
        if beta_min is not None and not 0 < beta_min <= beta_max:
            raise ValueError(f"need 0 < beta_min <= beta_max, got {beta_min}, {beta_max}")
        self.beta_min, self.beta_max = beta_min, beta_max

    @property
    def conditions_on_beta(self) -> bool:
        """Temperature-COS-DPO: log beta is drawn per query and is a model input."""
        return self.beta_min is not None

    @property
    def beta_range(self) -> tuple[float, float] | None:
        return None if self.beta_min is None else (float(self.beta_min), float(self.beta_max))

    def check(self, m: int, names=None) -> None:
        """Refuse settings that cannot work with ``m`` weighted objectives (called once, at set-up)."""

    def _weights(self, batch_size: int, m: int, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def sample(self, batch_size: int, m: int, beta: float, step: int, rank: int = 0,
               device: torch.device | str | None = None) -> tuple[Tensor, Tensor, Tensor | None]:
        """Conditions of one batch.

        Args:
            batch_size: B queries.
            m: number of weighted objectives.
            beta: the fixed DPO temperature (used when the sampler draws no beta).
            step, rank: the optimiser step and process rank that seed the draws.

        Returns:
            (weights float32 [B, m], beta float32 [B], log_beta float32 [B] or None when beta is fixed).
        """
        import torch

        generator = step_generator(step, rank)
        weights = self._weights(batch_size, m, generator).to(device)
        if self.conditions_on_beta:
            log_beta = sample_log_beta(batch_size, self.beta_min, self.beta_max, generator=generator, device=device)
            return weights, log_beta.exp(), log_beta
        return weights, torch.full((batch_size,), float(beta), device=device), None

    def describe(self) -> dict:
        """A JSON-able record of the sampler (stored in checkpoints and reports)."""
        return {"class": type(self).__name__, **{k: v for k, v in vars(self).items() if not k.startswith("_")}}


class DirichletSampler(ConditionSampler):
    """Weight-COS-DPO: w ~ Dirichlet(alpha * 1_m), per query (default) or one per batch.

    Args:
        alpha: Dirichlet concentration (1 = uniform on the simplex; < 1 favours its corners and edges).
        per_query: one weight vector per query (default) or one for the whole batch.
        vertex_prob: the share of draws replaced by a vertex of the simplex (a one-hot weight, each vertex
            equally likely), so the corners, where one objective has all the weight, are trained directly.
        beta_min, beta_max: set both for Temperature-COS-DPO (log beta ~ U[log beta_min, log beta_max]).
    """

    def __init__(self, alpha: float = 1.0, per_query: bool = True, vertex_prob: float = 0.0,
                 beta_min: float | None = None, beta_max: float | None = None) -> None:
        super().__init__(beta_min, beta_max)
        if not alpha > 0:
            raise ValueError(f"Dirichlet alpha must be > 0, got {alpha}")
        if not 0.0 <= vertex_prob <= 1.0:
            raise ValueError(f"vertex_prob is a probability in [0, 1], got {vertex_prob}")
        self.alpha, self.per_query, self.vertex_prob = float(alpha), bool(per_query), float(vertex_prob)

    def _weights(self, batch_size: int, m: int, generator: torch.Generator) -> Tensor:
        import torch

        weights = sample_weights(batch_size, m, alpha=self.alpha, per_query=self.per_query, generator=generator)
        if self.vertex_prob > 0.0:
            rows = weights.shape[0] if self.per_query else 1
            pick = torch.rand(rows, generator=generator) < self.vertex_prob  # [rows]
            vertex = torch.nn.functional.one_hot(torch.randint(m, (rows,), generator=generator), m).to(weights.dtype)
            if not self.per_query:
                pick, vertex = pick.expand(batch_size), vertex.expand(batch_size, m)
            weights = torch.where(pick[:, None], vertex, weights)
        return weights


class FixedWeights(ConditionSampler):
    """One fixed weight vector: an unconditioned policy trained on sum_k w_k L_k (the DPO-LS baseline).

    Args:
        weights: m non-negative values summing to 1, over the weighted objectives in order.
    """

    conditions_on_weights = False

    def __init__(self, weights: list[float]) -> None:
        super().__init__()
        self.weights = [float(w) for w in weights]

    def check(self, m: int, names=None) -> None:
        check_simplex(self.weights, m, names, "fixed weights")

    def _weights(self, batch_size: int, m: int, generator: torch.Generator) -> Tensor:
        import torch

        return torch.tensor(self.weights, dtype=torch.float32).expand(batch_size, -1)
