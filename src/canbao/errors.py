"""Errors an official can read: what is wrong and where, never a traceback."""

from __future__ import annotations


class CanbaoError(Exception):
    """Any refusal the user should see as one plain line."""


class PolicyFileError(CanbaoError):
    """A policy file that does not load or validate; `problems` are (file, key path, reason)."""

    def __init__(self, problems: list[tuple[str, str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{f}: {k}: {r}" for f, k, r in problems))


class UnknownPolicy(CanbaoError):
    pass


class InputError(CanbaoError):
    """Bad input, or a case the policy does not cover: names the field and the problem."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
