"""Rule-based rewards that need no model: usable as objectives for data and for ``ltr-cos llm pareto``.

Each rule maps (prompt, response) -> float, larger = better.
"""

from __future__ import annotations

import re
from collections.abc import Callable

COURTESY_MARKERS = ("thank", "please", "glad", "happy to help", "hope this helps", "great question", "kind")
RISKY_WORDS = ("dangerous", "weapon", "poison", "explosive", "steal", "hack")


def brevity(prompt: str, response: str) -> float:
    """Minus the number of words: shorter answers score higher."""
    return -float(len(response.split()))


def courtesy(prompt: str, response: str) -> float:
    """Number of courtesy phrases (thanks, please, hope this helps, ...) in the response."""
    text = response.lower()
    return float(sum(len(re.findall(re.escape(m), text)) for m in COURTESY_MARKERS))


def detail(prompt: str, response: str) -> float:
    """Number of words: a crude stand-in for helpfulness."""
    return float(len(response.split()))


def caution(prompt: str, response: str) -> float:
    """Minus the number of risky words: a crude stand-in for harmlessness."""
    text = response.lower()
    return -float(sum(text.count(w) for w in RISKY_WORDS))


RULES: dict[str, Callable[[str, str], float]] = {
    "brevity": brevity, "courtesy": courtesy, "detail": detail, "caution": caution,
}


def rule(name: str) -> Callable[[str, str], float]:
    """Look a rule up by name, with a clear error for unknown names."""
    try:
        return RULES[name]
    except KeyError:
        raise ValueError(f"unknown rule {name!r}; choose one of {sorted(RULES)}") from None
