"""The manifest beside every export: what exactly the file holds, so an analysis can cite it.

`<file>.manifest.json` names the study, the instrument versions present, the filters, the row
and column counts, the file's SHA-256 (and its companions'), the Vakstem version and the time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import vakstem
from vakstem.export.table import TableLayout

_BLOCK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def build_manifest(
    *,
    layout: TableLayout,
    fmt: str,
    path: Path,
    companions: Sequence[Path],
    rows: int,
    current_version: str,
    versions_present: Sequence[str],
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {
        "vakstem_version": vakstem.__version__,
        "created_at": moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "study": {
            "id": layout.study.id,
            "version_label": layout.study.version,
            "current_version": current_version,
        },
        "instrument_versions": sorted(versions_present),
        "format": fmt,
        "file": path.name,
        "sha256": sha256_of(path),
        "bytes": path.stat().st_size,
        "rows": rows,
        "columns": len(layout.columns),
        "filters": layout.options.as_dict() | {"language": layout.language},
        "missing_codes": layout.codes.as_dict(),
        "companions": [{"file": p.name, "sha256": sha256_of(p)} for p in companions],
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> Path:
    target = manifest_path(path)
    target.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return target
