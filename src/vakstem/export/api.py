"""Running an export: from a study in the store to a file with its manifest, or to a byte stream.

`export_to_file` is what `vakstem export` calls; `stream_export` gives the web layer an iterator
of bytes to send as a download without holding the file in memory. Both read the responses a
chunk at a time; neither imports anything from the web layer.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from vakstem.export.database import DEFAULT_CHUNK, ExportSource, ResponseReader, open_source
from vakstem.export.formats import FORMATS, TableData, get_writer
from vakstem.export.formats.csv_format import codebook_path, iter_csv
from vakstem.export.manifest import build_manifest, manifest_path, write_manifest
from vakstem.export.missing import ExportError
from vakstem.export.quality import FLAG_COLUMNS, QualityFlagger
from vakstem.export.relevance import expression_relevance
from vakstem.export.table import ExportOptions, TableChunk, TableLayout

#: Called once with the number of responses to export, then with each number just written.
Progress = Callable[[int], None]

_STREAM_BLOCK = 1 << 16


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: Path
    companions: tuple[Path, ...]
    rows: int
    columns: int
    sha256: str


def build_layout(source: ExportSource, options: ExportOptions) -> TableLayout:
    return TableLayout(
        source.study, options, expression_relevance(), flags=FLAG_COLUMNS, versions=source.versions
    )


def _rows(layout: TableLayout, reader: ResponseReader, counter: list[int]) -> Iterator[TableChunk]:
    flagger = QualityFlagger(layout.study, reader.completed_durations())
    for records in reader.chunks():
        counter[0] += len(records)
        yield layout.rows(records, [flagger.flags(r) for r in records])


def planned_files(fmt: str, out: Path) -> list[Path]:
    """Every file an export to `out` writes (the file, companions, manifest)."""
    files = [out, manifest_path(out)]
    if fmt == "csv":
        files.append(codebook_path(out))
    return files


def check_output(fmt: str, out: Path, force: bool) -> None:
    """Refuse before any work when the output cannot or may not be written."""
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"cannot write {out}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write {out}: no permission to write in {folder}")
    if out.is_dir():
        raise ExportError(f"cannot write {out}: it is a folder")
    existing = [p for p in planned_files(fmt, out) if p.exists()]
    if existing and not force:
        raise ExportError(
            f"{', '.join(str(p) for p in existing)} already exist(s); use --force to overwrite"
        )


def export_to_file(
    engine: Engine,
    study_id: str,
    fmt: str,
    out: Path,
    options: ExportOptions,
    *,
    force: bool = False,
    chunk_size: int = DEFAULT_CHUNK,
    on_total: Progress | None = None,
    on_rows: Progress | None = None,
) -> ExportResult:
    """Export a study to `out` in format `fmt` and write its manifest beside it.

    The file is written under a temporary name in the same folder and moved into place only
    when complete, so a failed export never leaves half a file under the requested name.
    """
    writer = get_writer(fmt)
    out = Path(out)
    check_output(fmt, out, force)
    source = open_source(engine, study_id, options)
    layout = build_layout(source, options)
    counter = [0]
    with ResponseReader(source, options, chunk_size) as reader:
        total = reader.count()
        versions = reader.version_hashes()
        if on_total is not None:
            on_total(total)
        try:
            work = Path(tempfile.mkdtemp(prefix=".vakstem-export-", dir=out.parent))
        except OSError as exc:
            raise ExportError(f"cannot write in {out.parent}: {exc.strerror}") from None
        try:
            staged = work / out.name
            data = TableData(layout, _rows(layout, reader, counter), total, on_rows)
            companions = writer.write(data, staged)
            final_companions = []
            for path in [staged, *companions]:
                target = out.parent / path.name
                os.replace(path, target)
                if path is not staged:
                    final_companions.append(target)
        except OSError as exc:
            raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
    manifest = build_manifest(
        layout=layout,
        fmt=fmt,
        path=out,
        companions=final_companions,
        rows=counter[0],
        current_version=source.stored.version_hash,
        versions_present=versions,
    )
    manifest_file = write_manifest(out, manifest)
    return ExportResult(
        out, manifest_file, tuple(final_companions), counter[0], len(layout.columns),
        manifest["sha256"],
    )  # fmt: skip


def export_filename(study_id: str, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return f"{study_id}{get_writer(fmt).suffix}"


def stream_export(
    engine: Engine,
    study_id: str,
    fmt: str,
    options: ExportOptions,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> Iterator[bytes]:
    """The export file as bytes chunks, for a streamed download.

    Checks (format, study, layout) run before the first chunk, so errors surface as an
    `ExportError` from this call rather than midway through a response. csv is produced as it is
    read; the other formats are built in a temporary file that is sent and then removed.
    """
    writer = get_writer(fmt)
    source = open_source(engine, study_id, options)
    layout = build_layout(source, options)
    return _stream(writer.suffix, fmt, source, layout, options, chunk_size)


@dataclass(frozen=True)
class Download:
    """What a web handler needs to send an export: name, content type and the bytes."""

    filename: str
    media_type: str
    chunks: Iterator[bytes]


def download(
    engine: Engine,
    study_id: str,
    fmt: str,
    options: ExportOptions,
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> Download:
    """`stream_export` with the file name and content type to send it under, e.g.
    `StreamingResponse(d.chunks, media_type=d.media_type, headers={"Content-Disposition":
    f'attachment; filename="{d.filename}"'})`. Errors (unknown study or format, bad
    language) are raised here, before anything is sent."""
    writer = get_writer(fmt)
    chunks = stream_export(engine, study_id, fmt, options, chunk_size=chunk_size)
    return Download(f"{study_id}{writer.suffix}", writer.media_type, chunks)


def _stream(
    suffix: str,
    fmt: str,
    source: ExportSource,
    layout: TableLayout,
    options: ExportOptions,
    chunk_size: int,
) -> Iterator[bytes]:
    counter = [0]
    with ResponseReader(source, options, chunk_size) as reader:
        data = TableData(layout, _rows(layout, reader, counter), reader.count())
        if fmt == "csv":
            for piece in iter_csv(data):
                yield piece.encode("utf-8")
            return
        work = Path(tempfile.mkdtemp(prefix="vakstem-export-"))
        try:
            staged = work / f"{layout.study.id}{suffix}"
            get_writer(fmt).write(data, staged)
            with staged.open("rb") as fh:
                while block := fh.read(_STREAM_BLOCK):
                    yield block
        finally:
            with suppress(OSError):
                shutil.rmtree(work)


__all__: Sequence[str] = (
    "ExportError",
    "ExportOptions",
    "ExportResult",
    "download",
    "export_filename",
    "export_to_file",
    "stream_export",
)
