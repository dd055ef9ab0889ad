"""A policy folder with one policy file edited, for tests of values that moved from code into policy files."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from canbao.policy import loader


def _clear() -> None:
    loader.load_policy.cache_clear()


@contextmanager
def edited_policies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy_id: str, edit: Callable[[dict[str, Any]], None]
) -> Iterator[Path]:
    """CANBAO_POLICY_DIR pointed at a copy of the policies with `policy_id`'s file changed by `edit`."""
    root = tmp_path / "policies"
    shutil.copytree(loader.policy_dir(), root)
    path = root / f"{policy_id}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("CANBAO_POLICY_DIR", str(root))  # for the command line, whose settings read it
    loader.use_policy_dir(root)  # for services called directly, as the composition root does
    _clear()
    try:
        yield root
    finally:
        monkeypatch.delenv("CANBAO_POLICY_DIR")
        loader.use_policy_dir(None)
        _clear()
