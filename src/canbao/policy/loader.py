"""Find, read and validate policy files (`policies/<region path>/<benefit year>.yaml`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from canbao.errors import PolicyFileError, UnknownPolicy
from canbao.policy.schema import Policy

_chosen: Path | None = None  # set by the composition root (canbao.bootstrap) from its settings


def use_policy_dir(folder: Path | None) -> None:
    """Read policy files from `folder` (None: the source tree's `policies/`); the composition root calls this
    with its settings, so that the loader itself reads no environment."""
    global _chosen
    if folder != _chosen:
        _chosen = folder
        load_policy.cache_clear()


def policy_dir() -> Path:
    """The folder the composition root chose, else the `policies/` folder of the source tree this package
    runs from."""
    if _chosen is not None:
        return _chosen
    for parent in Path(__file__).resolve().parents:
        if (parent / "policies").is_dir():
            return parent / "policies"
    raise UnknownPolicy("找不到 policies 目录；请设置 CANBAO_POLICY_DIR")


def _policy_id(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def list_policies() -> list[str]:
    root = policy_dir()
    return sorted(_policy_id(p, root) for p in root.rglob("*.yaml"))


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _key_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(file)"


def read_policy_file(path: Path, expected_id: str | None = None) -> Policy:
    """Load one file; raise PolicyFileError naming every problem with its key path."""
    name = str(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except OSError as exc:
        raise PolicyFileError([(name, "(file)", f"cannot be read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        reason = getattr(exc, "problem", None) or str(exc)
        raise PolicyFileError([(name, where, f"is not valid YAML: {reason}")]) from None
    if not isinstance(raw, dict):
        raise PolicyFileError([(name, "(file)", "must be a mapping of keys to values")])
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems = [(name, _key_path(e["loc"]), e["msg"]) for e in exc.errors()]
        raise PolicyFileError(problems) from None
    problems = [(name, key, reason) for key, reason in policy.problems()]
    if expected_id is not None and policy.policy != expected_id:
        problems.append((name, "policy", f"says {policy.policy} but the file's place says {expected_id}"))
    if problems:
        raise PolicyFileError(problems)
    return policy


@functools.cache
def load_policy(policy_id: str) -> Policy:
    root = policy_dir()
    path = root / f"{policy_id}.yaml"
    if ".." in policy_id or not path.is_file():
        known = ", ".join(list_policies())
        raise UnknownPolicy(f"policy: 没有政策 {policy_id}（已有：{known}）")
    return read_policy_file(path, policy_id)


def check_policy_files(paths: list[Path] | None = None) -> list[tuple[str, str, str]]:
    """Validate the given files (default: every file under policy_dir()); return all problems."""
    root = policy_dir()
    files = paths if paths else sorted(root.rglob("*.yaml"))
    problems: list[tuple[str, str, str]] = []
    for path in files:
        resolved = path.resolve()
        expected = _policy_id(resolved, root.resolve()) if resolved.is_relative_to(root.resolve()) else None
        try:
            read_policy_file(path, expected)
        except PolicyFileError as exc:
            problems.extend(exc.problems)
    return problems
