"""The model behind the analyst: any OpenAI-compatible chat-completions server, through the ``openai`` SDK.

Retries are off and the time budget is enforced twice (the SDK's own timeout and an asyncio deadline around
the whole call), so a slow, trickling or hung server costs at most the budget. Every failure is raised as a
``ModelError`` whose ``kind`` the decision record keeps.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import openai
import pydantic

from enigma_apex.analysis.answer import AnalystAnswer
from enigma_apex.analysis.prompt import PromptTemplate


class ModelError(Exception):
    """The model gave no usable answer. ``kind``: timeout, rate_limited, server_error, http_error, connection,
    invalid_answer, refused."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ModelReply:
    answer: AnalystAnswer
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class OpenAICompatibleModel:
    def __init__(self, base_url: str, model: str, api_key: str | None, budget_s: float) -> None:
        self.model = model
        self.budget_s = budget_s
        # Local servers (Ollama, llama.cpp, vLLM) ignore the key, but the SDK insists on one.
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "no-key", max_retries=0, timeout=budget_s
        )

    async def ask(self, messages: list[dict[str, str]]) -> ModelReply:
        started = time.perf_counter()
        try:
            completion = await asyncio.wait_for(
                self.client.chat.completions.parse(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    response_format=AnalystAnswer,
                    temperature=0,
                ),
                timeout=self.budget_s,
            )
        except (TimeoutError, openai.APITimeoutError):
            raise ModelError("timeout", f"no answer within {self.budget_s:g} s") from None
        except openai.RateLimitError as exc:
            raise ModelError("rate_limited", f"HTTP {exc.status_code}") from None
        except openai.InternalServerError as exc:
            raise ModelError("server_error", f"HTTP {exc.status_code}") from None
        except openai.APIStatusError as exc:
            raise ModelError("http_error", f"HTTP {exc.status_code}") from None
        except openai.APIConnectionError as exc:
            raise ModelError("connection", str(exc) or type(exc).__name__) from None
        except (pydantic.ValidationError, ValueError, openai.LengthFinishReasonError) as exc:
            raise ModelError("invalid_answer", _short(exc)) from None
        latency_ms = (time.perf_counter() - started) * 1000
        if not completion.choices:
            raise ModelError("invalid_answer", "the answer has no choices")
        message = completion.choices[0].message
        if message.refusal:
            raise ModelError("refused", _short(message.refusal))
        if message.parsed is None:
            raise ModelError("invalid_answer", "the answer holds no JSON object")
        usage = completion.usage
        return ModelReply(
            message.parsed,
            usage.prompt_tokens if usage else 0,
            usage.completion_tokens if usage else 0,
            latency_ms,
        )

    async def close(self) -> None:
        await self.client.close()


def _short(exc: object, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_template(path: Path | None) -> PromptTemplate:
    """The user's template file, or the built-in one shipped in the package."""
    if path is None:
        text = resources.files("enigma_apex.analysis").joinpath("prompt_v1.txt").read_text(encoding="utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    return PromptTemplate.parse(text)
