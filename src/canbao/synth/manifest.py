"""manifest.json (see *Manifest* in :mod:`canbao.synth`): what a build wrote, and reading it back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from canbao.policy import Policy
from canbao.synth.places import Geography


@dataclass(frozen=True)
class Manifest:
    """What `build_county` wrote: ``data`` is manifest.json as a dict (see :mod:`canbao.synth`)."""

    path: Path
    data: dict[str, Any]

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def faults(self) -> dict[str, list[dict[str, Any]]]:
        faults: dict[str, list[dict[str, Any]]] = self.data["faults"]
        return faults

    @property
    def folders(self) -> list[Path]:
        """Where the county's lists, roster and payments are: the folder itself, or each of its parts."""
        return [self.directory / part["path"] for part in self.data.get("parts", [])] or [self.directory]

    @property
    def files(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.data["files"]
        return files

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        path = directory / "manifest.json"
        return cls(path, json.loads(path.read_text(encoding="utf-8")))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def season_dates(policy: Policy) -> dict[str, Any]:
    window, period = policy.collection_window, policy.benefit_period
    return {
        "window": [window.start.isoformat(), window.end.isoformat()],
        "migrant_extension_end": policy.migrant_extension.end.isoformat() if policy.migrant_extension else None,
        "benefit_period": [period.start.isoformat(), period.end.isoformat()],
    }


def schools_of(geo: Geography) -> list[dict[str, str]]:
    return [{"name": s.name, "township": s.township, "level": s.level} for s in geo.schools]


_SHARED_COUNTS = ("townships", "villages", "schools")  # the same in every part: not added up


def add_counts(total: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """The counts of the parts added up (numbers added, dictionaries key by key; the places counted once)."""
    out = dict(total)
    for key, value in part.items():
        if key in _SHARED_COUNTS or key not in out:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = add_counts(out[key], value)
        elif isinstance(value, int):
            out[key] = out[key] + value
    return out


def file_entries(out: Path, rows: dict[str, int], sheets: dict[str, int]) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    for path in sorted(rows):
        entry: dict[str, Any] = {"path": path}
        if path == "targets.xlsx":
            entry["sheets"] = sheets
        else:
            entry["rows"] = rows[path]
        entry["sha256"] = sha256(out / path)
        files.append(entry)
    return files


def write_manifest(out: Path, data: dict[str, Any]) -> Manifest:
    manifest_path = out / "manifest.json"
    manifest_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return Manifest(manifest_path, data)
