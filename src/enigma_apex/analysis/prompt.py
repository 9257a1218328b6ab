"""The analyst's prompt: a versioned template filled with the signal, recent signals, risk state and statistics."""

from __future__ import annotations

import json
from dataclasses import dataclass
from string import Template
from typing import Any

from enigma_apex.analysis.answer import AnalystAnswer

REQUIRED_FIELDS = ("signal", "recent", "accounts", "stats", "schema")


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A template file: the first line is ``version: <id>``; a line ``---`` splits the system part from the user
    part; ``$signal``, ``$recent``, ``$accounts``, ``$stats`` and ``$schema`` are filled in as JSON."""

    version: str
    system: str
    user: str

    @classmethod
    def parse(cls, text: str) -> PromptTemplate:
        head, _, body = text.partition("\n")
        if not head.startswith("version:"):
            raise ValueError("a prompt template starts with a line 'version: <id>'")
        system, sep, user = body.partition("\n---\n")
        if not sep:
            raise ValueError("a prompt template has a line '---' between its system and user parts")
        missing = [f for f in REQUIRED_FIELDS if f"${f}" not in user and "${" + f + "}" not in user]
        if missing:
            raise ValueError(f"the user part of the prompt template lacks ${missing[0]}")
        return cls(head.removeprefix("version:").strip(), system.strip(), user.strip())

    def messages(self, context: dict[str, Any]) -> list[dict[str, str]]:
        values = {k: json.dumps(context.get(k), sort_keys=True, default=str) for k in REQUIRED_FIELDS if k != "schema"}
        values["schema"] = json.dumps(AnalystAnswer.model_json_schema(), sort_keys=True)
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": Template(self.user).safe_substitute(values)},
        ]
