"""What the analyst answers, and what the hub keeps of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AnalystAction = Literal["take", "skip", "reduce"]


class AnalystAnswer(BaseModel):
    """The structured answer asked of the model. Anything else (extra keys, out-of-range numbers) is invalid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: int = Field(ge=0, le=100, description="Quality of the signal, 0 (worst) to 100 (best).")
    action: AnalystAction = Field(description="take, skip, or reduce (take with a smaller size).")
    confidence: float = Field(ge=0, le=1, description="How sure the analyst is that the trade wins, 0 to 1.")
    reasons: list[str] = Field(max_length=8, description="Short reasons, most important first.")


@dataclass(frozen=True, slots=True)
class Analysis:
    """The analysis a decision used: the model's answer or the deterministic scorer's, and why."""

    source: Literal["ai", "scorer", "none"]
    score: int
    action: AnalystAction
    confidence: Decimal
    reasons: tuple[str, ...] = ()
    fallback_reason: str | None = None  # why the model's answer was not used
    model: str | None = None
    prompt_version: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_ms: float | None = None
    breakdown: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "score": self.score,
            "action": self.action,
            "confidence": str(self.confidence),
            "reasons": list(self.reasons),
            "fallback_reason": self.fallback_reason,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": str(self.cost_usd),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "breakdown": self.breakdown,
        }


NOT_ANALYSED = Analysis("none", 50, "take", Decimal("0.5"), ("not analysed",))


def cost(prompt_tokens: int, completion_tokens: int, input_per_mtok: Decimal, output_per_mtok: Decimal) -> Decimal:
    """USD cost of one call from its token counts and the prices per million tokens."""
    million = Decimal(1_000_000)
    return (Decimal(prompt_tokens) * input_per_mtok + Decimal(completion_tokens) * output_per_mtok) / million
