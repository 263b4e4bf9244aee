"""Load a study file (YAML) into the `Study` model, reporting every problem with its line.

Three steps, pyxform style: read the YAML into a node tree (syntax errors, duplicate keys, and a
map from every key to its line), build the pydantic model (wrong types and unknown fields,
located through the map), then run the cross-reference checks of `vakstem.instrument.validate`.
Everything that goes wrong becomes a `Problem`; the only exception raised is `StudyFileError`.

YAML is read with YAML 1.2 scalar rules: only `true`/`false` are booleans (so an English label
`No` or `On` stays text) and dates stay text.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vakstem.instrument.problems import (
    Path,
    Problem,
    SourceMap,
    StudyFileError,
    ValuePosition,
    format_path,
)
from vakstem.instrument.schema import (
    ID_PATTERN,
    LANG_PATTERN,
    AnalysisPlan,
    Choice,
    Item,
    MatrixRow,
    ModelSpec,
    Page,
    Privacy,
    PrivacyContact,
    PrivacyController,
    Scale,
    Study,
    StudySettings,
)

__all__ = [
    "Problem",
    "SourceMap",
    "StudyFileError",
    "check_text",
    "content_hash",
    "load_study_file",
    "load_study_text",
    "read_study_file",
]

#: More values than this after expanding aliases is refused (a "billion laughs" file).
MAX_EXPANDED_NODES = 200_000

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_REPLACED_TAGS = {_BOOL, _INT, _FLOAT, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.2 core-schema scalars (see the module docstring)."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_Resolver.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Resolver.add_implicit_resolver(_INT, re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Resolver.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


class _PyLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _Resolver,
):
    """The pure-Python reader (used when PyYAML was built without libyaml)."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _Resolver.__init__(self)


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class _CLoader(CParser, yaml.constructor.SafeConstructor, _Resolver):
        """libyaml's parser (about ten times faster) with the same constructor and resolver."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _Resolver.__init__(self)

    _Loader: type[Any] = _CLoader
else:  # pragma: no cover - depends on how PyYAML was built
    _Loader = _PyLoader


class _Failed:
    """Marker: the YAML could not be read at all."""


_FAILED = _Failed()


# --- step 1: YAML -> data + source map --------------------------------------------------------


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, max(0, index)) + 1


def _code_point(character: object) -> int:
    if isinstance(character, int):
        return character
    if isinstance(character, str) and len(character) == 1:
        return ord(character)
    return 0


def _yaml_problem(exc: yaml.YAMLError, text: str, filename: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "invalid YAML"
        if exc.context and exc.context not in problem:
            problem = f"{problem} ({exc.context}"
            if exc.context_mark is not None and mark is not exc.context_mark:
                problem += f" at line {exc.context_mark.line + 1}"
            problem += ")"
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        if "block" in problem or "indentation" in problem:
            problem += "; check the indentation of this line and the one before"
        return Problem(f"YAML syntax error: {problem}", line=line, column=column, file=filename)
    if isinstance(exc, yaml.reader.ReaderError):
        return Problem(
            f"YAML syntax error: the control character U+{_code_point(exc.character):04X} "
            "is not allowed in a YAML file",
            line=_line_of(text, exc.position),
            file=filename,
        )
    return Problem(f"YAML syntax error: {exc}", file=filename)


def _expanded_size(node: Node, memo: dict[int, int], active: set[int]) -> int:
    """Number of nodes once aliases are expanded; raises ValueError on a recursive alias."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise ValueError("recursive alias")
    active.add(key)
    total = 1
    if isinstance(node, MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, active) + _expanded_size(v, memo, active)
    elif isinstance(node, SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, active)
    active.discard(key)
    memo[key] = min(total, MAX_EXPANDED_NODES + 1)
    return memo[key]


def _scalar_key(node: Node) -> str | int | None:
    if not isinstance(node, ScalarNode):
        return None
    if node.tag == _INT:
        try:
            return int(node.value)
        except ValueError:
            return str(node.value)
    return str(node.value)


def _value_position(node: ScalarNode) -> ValuePosition:
    quoted = node.style in ("'", '"')
    # A plain scalar's style is None from the Python parser and '' from libyaml.
    single = node.style in (None, "", "'", '"') and node.start_mark.line == node.end_mark.line
    return ValuePosition(
        line=node.start_mark.line + 1,
        column=node.start_mark.column + 1,
        prefix=1 if quoted else 0,
        single_line=single,
    )


def _map_nodes(root: Node, smap: SourceMap, duplicates: list[tuple[str, Path, int, int]]) -> None:
    """Record the line of every key and list entry; report duplicate keys. Aliased nodes are
    walked once (their copies fall back to the alias's position)."""
    seen: set[int] = set()
    stack: list[tuple[Node, Path]] = [(root, ())]
    smap.keys[()] = (root.start_mark.line + 1, root.start_mark.column + 1)
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            first_seen: dict[str | int, int] = {}
            for key_node, value_node in node.value:
                key = _scalar_key(key_node)
                if key is None:
                    continue
                line = key_node.start_mark.line + 1
                if key in first_seen and key != "<<":
                    duplicates.append(
                        (
                            f"duplicate key {key!r} (first at line {first_seen[key]}); "
                            "each key may appear once in a mapping",
                            (*path, key),
                            line,
                            key_node.start_mark.column + 1,
                        )
                    )
                    continue
                first_seen[key] = line
                child: Path = (*path, key)
                smap.keys[child] = (line, key_node.start_mark.column + 1)
                if isinstance(value_node, ScalarNode):
                    smap.values[child] = _value_position(value_node)
                stack.append((value_node, child))
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                smap.keys[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
                if isinstance(item, ScalarNode):
                    smap.values[child] = _value_position(item)
                stack.append((item, child))


def read_yaml(text: str, filename: str = "<string>") -> tuple[object, SourceMap, list[Problem]]:
    """YAML text -> (data, source map, problems). Data is `_FAILED` when the YAML is unreadable."""
    smap = SourceMap(file=filename)
    problems: list[Problem] = []
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:
        return _FAILED, smap, [_yaml_problem(exc, text, filename)]
    try:
        root = loader.get_single_node()
        if root is None:
            problems.append(Problem("the file is empty", line=1, file=filename))
            return _FAILED, smap, problems
        try:
            size = _expanded_size(root, {}, set())
        except ValueError:
            problems.append(Problem("a YAML alias refers to itself", file=filename))
            return _FAILED, smap, problems
        if size > MAX_EXPANDED_NODES:
            problems.append(
                Problem(
                    f"the file expands to more than {MAX_EXPANDED_NODES} values (through "
                    "aliases); a study file is never that large",
                    file=filename,
                )
            )
            return _FAILED, smap, problems
        duplicates: list[tuple[str, Path, int, int]] = []
        _map_nodes(root, smap, duplicates)
        data = loader.construct_document(root)
        for message, path, line, column in duplicates:
            page, item = _names(path, data)
            problems.append(
                Problem(
                    message,
                    path=format_path(path),
                    page=page,
                    item=item,
                    line=line,
                    column=column,
                    file=filename,
                )
            )
    except yaml.YAMLError as exc:
        return _FAILED, smap, [_yaml_problem(exc, text, filename)]
    except RecursionError:
        return _FAILED, smap, [Problem("the file is nested too deeply", file=filename)]
    finally:
        loader.dispose()
    return data, smap, problems


# --- step 2: data -> Study (pydantic errors located) --------------------------------------------

_UNION_TAGS = {"str", "bool", "int", "float", "dict[str,str]", "none"}

_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "settings": StudySettings,
    "analysis": AnalysisPlan,
    "privacy": Privacy,
}


def _model_at(path: Path) -> type[BaseModel] | None:
    """The model a mapping at `path` is validated as (for listing its allowed fields)."""
    shape = tuple("#" if isinstance(p, int) else p for p in path)
    if shape == ():
        return Study
    if len(shape) == 1 and isinstance(shape[0], str):
        return _SECTION_MODELS.get(shape[0])
    table: dict[tuple[str, ...], type[BaseModel]] = {
        ("pages", "#"): Page,
        ("pages", "#", "items", "#"): Item,
        ("pages", "#", "items", "#", "rows", "#"): MatrixRow,
        ("scales", "#"): Scale,
        ("analysis", "models", "#"): ModelSpec,
        ("privacy", "controllers", "#"): PrivacyController,
        ("privacy", "contact"): PrivacyContact,
    }
    if len(shape) == 3 and shape[0] == "choice_lists" and shape[2] == "#":
        return Choice
    return table.get(shape)


def _describe(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and (
        part in _UNION_TAGS or "[" in part or part.startswith("function-")
    )


def _step(container: object, part: str | int) -> tuple[bool, object]:
    """Whether `part` indexes into `container` (a mapping key or a list index), and the value."""
    if isinstance(container, dict) and part in container:
        return True, container[part]
    if isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container):
        return True, container[part]
    return False, None


def _resolve(loc: Iterable[str | int], data: object) -> tuple[Path, Path | None, bool]:
    """Map a pydantic `loc` onto the document: (path that exists, union site, whether the last
    part was absent from the data)."""
    path: list[str | int] = []
    site: Path | None = None
    current: object = data
    absent = False
    for part in loc:
        if absent:
            break
        found, child = _step(current, part)
        if found:
            path.append(part)
            current = child
        elif _is_tag(part):
            if site is None:
                site = tuple(path)
        else:
            path.append(part)
            absent = True
    return tuple(path), site, absent


def _names(path: Path, data: object) -> tuple[str | None, str | None]:
    """The page id and item (or matrix row) id a path lies in, read from the raw data."""

    def get_id(container: object, index: object) -> tuple[object, str | None]:
        if isinstance(container, list) and isinstance(index, int) and 0 <= index < len(container):
            entry = container[index]
            if isinstance(entry, dict):
                raw = entry.get("id")
                return entry, raw if isinstance(raw, str) else f"#{index + 1}"
            return entry, f"#{index + 1}"
        return None, None

    if len(path) < 2 or path[0] != "pages" or not isinstance(data, dict):
        return None, None
    page_data, page = get_id(data.get("pages"), path[1])
    item = None
    if len(path) >= 4 and path[2] == "items" and isinstance(page_data, dict):
        item_data, item = get_id(page_data.get("items"), path[3])
        if len(path) >= 6 and path[4] == "rows" and isinstance(item_data, dict):
            _row_data, row = get_id(item_data.get("rows"), path[5])
            item = row or item
    return page, item


_KIND = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping (key: value lines)",
    "list_type": "a list (lines starting with '- ')",
    "tuple_type": "a list (lines starting with '- ')",
}


def _field_message(err: dict[str, Any], field: str | int | None) -> str:
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    prefix = f"{field}: " if isinstance(field, str) else ""
    if kind in _KIND:
        hint = ""
        if kind == "string_type" and isinstance(value, (int, float, bool)):
            hint = f' (put it in quotes: "{value}")'
        return f"{prefix}expected {_KIND[kind]}, got {_describe(value)}{hint}"
    if kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        if pattern == ID_PATTERN:
            return (
                f"{prefix}{value!r} is not a valid id: use lowercase letters, digits and _, "
                "starting with a letter (like werk_1)"
            )
        if pattern == LANG_PATTERN:
            return f"{prefix}{value!r} is not a language code (two or three letters, like nl)"
        return f"{prefix}{value!r} is not allowed here (expected the form {pattern})"
    if kind == "enum":
        return f"{prefix}unknown value {value!r}; use {ctx.get('expected', 'a listed value')}"
    if kind == "literal_error":
        return f"{prefix}unknown value {value!r}; use {ctx.get('expected', 'a listed value')}"
    message = str(err.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return f"{prefix}{message[:1].lower()}{message[1:]}"


def _combined_union_message(tags: set[str], value: object, field: str | int | None) -> str:
    prefix = f"{field}: " if isinstance(field, str) else ""
    if tags <= {"str", "dict[str,str]"}:
        return (
            f"{prefix}expected text: a string, or one text per language "
            f"(nl: ..., en: ...), got {_describe(value)}"
        )
    if tags <= {"bool", "str"}:
        return f"{prefix}expected true, false or a condition, got {_describe(value)}"
    return f"{prefix}has the wrong type ({_describe(value)})"


def _value_at(path: Path, data: object) -> object:
    current = data
    for part in path:
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            current = current[part]
        else:
            return None
    return current


def _pydantic_problems(
    exc: ValidationError, data: object, smap: SourceMap, filename: str
) -> list[Problem]:
    problems: list[Problem] = []
    union_groups: dict[Path, list[tuple[Path, dict[str, Any], bool]]] = {}
    plain: list[tuple[Path, dict[str, Any], bool]] = []
    for detail in exc.errors():
        path, site, absent = _resolve(detail["loc"], data)
        entry: tuple[Path, dict[str, Any], bool] = (path, dict(detail), absent)
        if site is not None:
            union_groups.setdefault(site, []).append(entry)
        else:
            plain.append(entry)
    for site, entries in union_groups.items():
        deeper = [e for e in entries if len(e[0]) > len(site)]
        if deeper:
            plain.extend(deeper)
            continue
        tags = {p for e in entries for p in e[1]["loc"] if isinstance(p, str) and _is_tag(p)}
        label = format_path(site) if _names(site, data)[0] is None else site[-1]
        message = _combined_union_message(tags, _value_at(site, data), label)
        plain.append((site, {"type": "_union", "msg": message}, False))

    seen: set[tuple[Path, str]] = set()
    for path, err, absent in plain:
        kind = err["type"]
        where = path[:-1] if absent or kind == "extra_forbidden" else path
        page, item = _names(where, data)
        # Inside an item the location already says where; elsewhere the path does.
        context = f"{format_path(where)}: " if page is None and where else ""
        if kind == "missing" and absent:
            message = f"{context}missing required field {path[-1]!r}"
        elif kind == "extra_forbidden":
            message = f"{context}unknown field {path[-1]!r}"
            model = _model_at(path[:-1])
            if model is not None and isinstance(path[-1], str):
                close = difflib.get_close_matches(path[-1], list(model.model_fields), n=1)
                if close:
                    message += f" (did you mean {close[0]!r}?)"
        elif kind == "_union":
            message = err["msg"]
        else:
            field = format_path(path) if page is None else (path[-1] if path else None)
            message = _field_message(err, field)
        if (where, message) in seen:
            continue
        seen.add((where, message))
        line, column = smap.locate(path if kind == "extra_forbidden" else where)
        problems.append(
            Problem(
                message,
                path=format_path(where if kind == "missing" else path),
                page=page,
                item=item,
                line=line,
                column=column,
                file=filename,
            )
        )
    return problems


def build_study(data: object, smap: SourceMap, filename: str) -> tuple[Study | None, list[Problem]]:
    """Validate the data against the `Study` model; problems carry lines from `smap`."""
    if not isinstance(data, dict):
        return None, [
            Problem(
                "a study file must be a mapping with id, title and pages at the top level, "
                f"not {_describe(data)}",
                line=1,
                file=filename,
            )
        ]
    try:
        return Study.model_validate(data), []
    except ValidationError as exc:
        return None, _pydantic_problems(exc, data, smap, filename)
    except (RecursionError, ValueError, TypeError) as exc:
        return None, [Problem(f"cannot read the study: {exc}", file=filename)]


# --- the whole pipeline -----------------------------------------------------------------------


def _sort(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0))


def check_text(text: str, filename: str = "<string>") -> tuple[Study | None, list[Problem]]:
    """Read, build and validate a study; returns the study (None when it could not be built)
    and every problem found, in file order."""
    from vakstem.instrument.validate import validate_study

    data, smap, problems = read_yaml(text, filename)
    if isinstance(data, _Failed):
        return None, problems
    study, build_problems = build_study(data, smap, filename)
    problems.extend(build_problems)
    if study is not None:
        problems.extend(validate_study(study, smap))
    return study, _sort(problems)


def read_study_file(path: str | FsPath) -> tuple[str | None, list[Problem]]:
    """The text of a study file, or a problem saying why it cannot be read."""
    fs_path = FsPath(path)
    name = str(path)
    try:
        raw = fs_path.read_bytes()
    except FileNotFoundError:
        return None, [Problem("file not found", file=name)]
    except IsADirectoryError:
        return None, [Problem("this is a directory, not a study file", file=name)]
    except PermissionError:
        return None, [Problem("no permission to read this file", file=name)]
    except OSError as exc:
        return None, [Problem(f"cannot read the file: {exc.strerror or exc}", file=name)]
    try:
        return raw.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return None, [
            Problem(
                f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x}); save it as UTF-8",
                line=line,
                file=name,
            )
        ]


def load_study_text(text: str, filename: str = "<string>") -> Study:
    """Build a valid `Study` from YAML text, or raise `StudyFileError` with every problem."""
    study, problems = check_text(text, filename)
    if problems or study is None:
        raise StudyFileError(problems or [Problem("the study could not be built", file=filename)])
    return study


def load_study_file(path: str | FsPath) -> Study:
    """Build a valid `Study` from a YAML file, or raise `StudyFileError` with every problem."""
    text, problems = read_study_file(path)
    if text is None:
        raise StudyFileError(problems)
    return load_study_text(text, str(path))


def content_hash(study: Study) -> str:
    """sha256 of the study's canonical JSON (sorted keys, no whitespace, defaults left out): the
    same for any formatting of the same content, different for any change of content. Leaving
    defaults out means spelling a default out is no change, and a field added to the format
    later with a default does not change the hash of existing studies. Equal to
    `vakstem.store.studies.version_hash`."""
    canonical = json.dumps(
        study.model_dump(mode="json", exclude_defaults=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
