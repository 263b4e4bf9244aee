"""Organisation codes of the klantmanager study: Dutch municipalities (CBS codes) with province
and size class, and the `organisatie` choice list built from them.

The choice list in `study.yaml` is generated from `gemeenten.csv` by this module, between two
marker lines, so the questionnaire and the data cannot drift apart:

    python -m vakstem.studies.klantmanagers.organisations          # rewrite the block
    python -m vakstem.studies.klantmanagers.organisations --check  # exit 1 if out of date

Province and size class follow from a municipality code (`municipality`), so the questionnaire
asks them only of respondents who pick "other organisation".
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vakstem.studies.klantmanagers import STUDY_DIR, STUDY_FILE

MUNICIPALITIES_FILE = STUDY_DIR / "gemeenten.csv"

#: Code of "other organisation / not in the list"; outside CBS's range of municipality codes.
OTHER_ORGANISATION = 9999

#: Size classes in the order of their codes in the `grootte` choice list (1 = G4 ... 6 = <20k).
SIZE_CLASSES: dict[str, int] = {
    "G4": 1,
    "G40": 2,
    "100k+": 3,
    "50-100k": 4,
    "20-50k": 5,
    "<20k": 6,
}

#: Provinces with CBS's province numbers (PV20 ... PV31), used as codes of `provincie`.
PROVINCES: dict[str, int] = {
    "Groningen": 20,
    "Friesland": 21,
    "Drenthe": 22,
    "Overijssel": 23,
    "Flevoland": 24,
    "Gelderland": 25,
    "Utrecht": 26,
    "Noord-Holland": 27,
    "Zuid-Holland": 28,
    "Zeeland": 29,
    "Noord-Brabant": 30,
    "Limburg": 31,
}

#: Names respondents search for, shown beside CBS's official name in the dropdown.
_ALSO_KNOWN_AS: dict[int, str] = {518: "Den Haag", 796: "Den Bosch"}

BEGIN_MARKER = "  # BEGIN organisatie: generated from gemeenten.csv"
END_MARKER = "  # END organisatie"

_COLUMNS = ("code", "name", "province", "size_class")


class MunicipalityDataError(ValueError):
    """The municipality file is malformed; the message names the line and the problem."""


@dataclass(frozen=True)
class Municipality:
    code: int
    name: str
    province: str
    size_class: str

    @property
    def province_code(self) -> int:
        return PROVINCES[self.province]

    @property
    def size_code(self) -> int:
        return SIZE_CLASSES[self.size_class]

    @property
    def display_name(self) -> str:
        alias = _ALSO_KNOWN_AS.get(self.code)
        return f"{self.name} ({alias})" if alias else self.name


def load_municipalities(path: Path = MUNICIPALITIES_FILE) -> list[Municipality]:
    """Read and check the municipality file: unique codes and names, known provinces and
    size classes, codes that are positive whole numbers below `OTHER_ORGANISATION`."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise MunicipalityDataError(
                f"{path.name}: the header must be {','.join(_COLUMNS)}, "
                f"not {','.join(reader.fieldnames or [])}"
            )
        rows = [(reader.line_num, row) for row in reader]
    result: list[Municipality] = []
    seen_codes: dict[int, int] = {}
    seen_names: dict[str, int] = {}
    for line, row in rows:
        where = f"{path.name} line {line}"
        raw_code = (row["code"] or "").strip()
        if not raw_code.isdigit() or not 0 < int(raw_code) < OTHER_ORGANISATION:
            raise MunicipalityDataError(
                f"{where}: code {raw_code!r} is not a municipality code "
                f"(1-{OTHER_ORGANISATION - 1})"
            )
        code = int(raw_code)
        name = (row["name"] or "").strip()
        if not name:
            raise MunicipalityDataError(f"{where}: the name is empty")
        if row["province"] not in PROVINCES:
            raise MunicipalityDataError(
                f"{where}: unknown province {row['province']!r}; known: {', '.join(PROVINCES)}"
            )
        if row["size_class"] not in SIZE_CLASSES:
            raise MunicipalityDataError(
                f"{where}: unknown size class {row['size_class']!r}; "
                f"known: {', '.join(SIZE_CLASSES)}"
            )
        if code in seen_codes:
            raise MunicipalityDataError(f"{where}: code {code} is also on line {seen_codes[code]}")
        if name in seen_names:
            raise MunicipalityDataError(f"{where}: {name!r} is also on line {seen_names[name]}")
        seen_codes[code] = line
        seen_names[name] = line
        result.append(Municipality(code, name, row["province"], row["size_class"]))
    return result


def municipality(code: int, municipalities: Iterable[Municipality] | None = None) -> Municipality:
    """The municipality with CBS code `code` (KeyError naming the code if there is none)."""
    for item in municipalities if municipalities is not None else load_municipalities():
        if item.code == code:
            return item
    raise KeyError(f"no municipality with code {code}")


def _sort_key(item: Municipality) -> str:
    # "'s-Gravenhage" and "'s-Hertogenbosch" belong under G and H, as in CBS's own lists.
    name = item.display_name
    return (name[3:] if name.startswith("'s-") else name).casefold()


def organisation_choices(
    municipalities: Sequence[Municipality] | None = None,
) -> list[dict[str, object]]:
    """The `organisatie` choice list: municipalities by name, then "other organisation"."""
    items = list(municipalities) if municipalities is not None else load_municipalities()
    choices: list[dict[str, object]] = [
        {"code": m.code, "label": m.display_name} for m in sorted(items, key=_sort_key)
    ]
    choices.append(
        {
            "code": OTHER_ORGANISATION,
            "label": {
                "nl": "Andere organisatie / niet in de lijst",
                "en": "Other organisation / not in the list",
            },
        }
    )
    return choices


def _yaml_scalar(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_choice_block(municipalities: Sequence[Municipality] | None = None) -> str:
    """The YAML lines of the `organisatie` choice list, markers included."""
    lines = [
        BEGIN_MARKER + " by vakstem.studies.klantmanagers.organisations; do not edit by hand",
        "  organisatie:",
    ]
    for choice in organisation_choices(municipalities):
        label = choice["label"]
        if isinstance(label, dict):
            rendered = "{" + ", ".join(f"{k}: {_yaml_scalar(v)}" for k, v in label.items()) + "}"
        else:
            rendered = _yaml_scalar(str(label))
        lines.append(f"    - {{code: {choice['code']}, label: {rendered}}}")
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def sync_study_text(text: str, block: str) -> str:
    """`text` with the lines between the markers (inclusive) replaced by `block`."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(BEGIN_MARKER)]
    ends = [i for i, line in enumerate(lines) if line.rstrip("\n") == END_MARKER]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise MunicipalityDataError(
            "the study file must hold exactly one organisatie block between the lines "
            f"{BEGIN_MARKER.strip()!r} and {END_MARKER.strip()!r}"
        )
    return "".join(lines[: starts[0]]) + block + "".join(lines[ends[0] + 1 :])


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the organisatie block of study.yaml, or with `--check` report if it is stale."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    current = STUDY_FILE.read_text(encoding="utf-8")
    try:
        wanted = sync_study_text(current, render_choice_block())
    except MunicipalityDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if wanted == current:
        print("organisatie choice list is up to date")
        return 0
    if check:
        print("organisatie choice list is out of date; run without --check", file=sys.stderr)
        return 1
    STUDY_FILE.write_text(wanted, encoding="utf-8")
    print(f"rewrote the organisatie choice list in {STUDY_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
