"""Cross-reference checks of a study that pydantic cannot do field by field: unique ids, choice
lists, conditions and their references, translations, scales, the analysis plan and variable
names. One function per concern (pyxform style); each problem is located through the
`SourceMap` of the YAML file it came from.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath

from vakstem.instrument.expressions import (
    ExpressionError,
    parse,
    reference_nodes,
    uses_current,
)
from vakstem.instrument.names import multiple_choice_column, name_problems
from vakstem.instrument.problems import Path, Problem, SourceMap, format_path
from vakstem.instrument.schema import Item, ItemType, Study, Text

__all__ = ["check_file", "validate_study"]

CHOICE_TYPES = frozenset({ItemType.SINGLE, ItemType.MULTIPLE, ItemType.MATRIX})
NUMBER_TYPES = frozenset({ItemType.INTEGER, ItemType.DECIMAL})
TEXT_TYPES = frozenset({ItemType.TEXT, ItemType.LONGTEXT})


@dataclass(frozen=True)
class _Variable:
    """Where a variable (an item's answer or a matrix row) is defined."""

    name: str
    page_index: int
    item: Item
    path: Path


class _Checker:
    def __init__(self, study: Study, smap: SourceMap) -> None:
        self.study = study
        self.smap = smap
        self.problems: list[Problem] = []
        self.variables: dict[str, _Variable] = {}
        self.items: dict[str, tuple[int, Item, Path]] = {}

    def add(
        self,
        message: str,
        path: Path,
        *,
        page: str | None = None,
        item: str | None = None,
        offset: int | None = None,
        in_value: bool = False,
    ) -> None:
        if in_value:
            line, column = self.smap.locate_in_value(path, offset)
        else:
            line, column = self.smap.locate(path)
        self.problems.append(
            Problem(
                message,
                path=format_path(path),
                page=page,
                item=item,
                line=line,
                column=column,
                file=self.smap.file,
            )
        )

    def item_entries(self) -> Iterator[tuple[int, int, Item, Path]]:
        for p, page in enumerate(self.study.pages):
            for i, item in enumerate(page.items):
                yield p, i, item, ("pages", p, "items", i)


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --- ids ------------------------------------------------------------------------------------


def check_ids(c: _Checker) -> None:
    """Unique page ids; one namespace for item ids and matrix row ids; unique scale ids, not
    equal to a variable; unique choice codes per list; unique model ids, languages and source
    tags."""
    pages: dict[str, int] = {}
    for p, page in enumerate(c.study.pages):
        if page.id in pages:
            c.add(
                f"duplicate page id {page.id!r} (also page {pages[page.id] + 1})",
                ("pages", p, "id"),
                page=page.id,
            )
        pages.setdefault(page.id, p)

    seen: dict[str, str] = {}
    for p, _i, item, path in c.item_entries():
        page_id = c.study.pages[p].id
        if item.id in seen:
            c.add(
                f"duplicate id {item.id!r} (already used by {seen[item.id]})",
                (*path, "id"),
                page=page_id,
                item=item.id,
            )
        else:
            seen[item.id] = f"an item on page {page_id!r}"
            c.items[item.id] = (p, item, path)
            if item.type is not ItemType.MATRIX and item.type is not ItemType.NOTE:
                c.variables[item.id] = _Variable(item.id, p, item, path)
        if item.type is ItemType.MATRIX:
            for r, row in enumerate(item.rows):
                row_path = (*path, "rows", r)
                if row.id in seen:
                    c.add(
                        f"duplicate id {row.id!r} (already used by {seen[row.id]})",
                        (*row_path, "id"),
                        page=page_id,
                        item=row.id,
                    )
                else:
                    seen[row.id] = f"a row of matrix {item.id!r}"
                    c.variables[row.id] = _Variable(row.id, p, item, row_path)

    for name, choices in c.study.choice_lists.items():
        codes: dict[int, int] = {}
        for k, choice in enumerate(choices):
            if choice.code in codes:
                c.add(
                    f"choice list {name!r}: duplicate code {choice.code} "
                    f"(also choice {codes[choice.code] + 1})",
                    ("choice_lists", name, k, "code"),
                )
            codes.setdefault(choice.code, k)

    scales: set[str] = set()
    for s, scale in enumerate(c.study.scales):
        if scale.id in scales:
            c.add(f"duplicate scale id {scale.id!r}", ("scales", s, "id"))
        elif scale.id in seen:
            c.add(
                f"scale id {scale.id!r} is also the id of {seen[scale.id]}; "
                "a scale score needs a column name of its own",
                ("scales", s, "id"),
            )
        scales.add(scale.id)

    models: set[str] = set()
    for m, model in enumerate(c.study.analysis.models):
        if model.id in models:
            c.add(f"duplicate model id {model.id!r}", ("analysis", "models", m, "id"))
        models.add(model.id)

    languages: set[str] = set()
    for k, lang in enumerate(c.study.languages):
        if lang in languages:
            c.add(f"language {lang!r} is listed twice", ("languages", k))
        languages.add(lang)

    sources: set[str] = set()
    for k, tag in enumerate(c.study.sources):
        if tag in sources:
            c.add(f"duplicate source tag {tag!r}", ("sources", k))
        sources.add(tag)


# --- item fields ------------------------------------------------------------------------------


def check_item_fields(c: _Checker) -> None:
    """Fields that only some item types may have, choice lists, and numeric bounds."""
    lists = c.study.choice_lists
    for p, _i, item, path in c.item_entries():
        page_id = c.study.pages[p].id

        def add(
            message: str,
            field: str,
            *,
            _item: Item = item,
            _path: Path = path,
            _page: str = page_id,
        ) -> None:
            c.add(message, (*_path, field), page=_page, item=_item.id)

        kind = item.type.value
        a_kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        if item.type in CHOICE_TYPES:
            if item.choices is None:
                add(f"{a_kind} item needs a choice list: add choices: <list name>", "type")
            elif item.choices not in lists:
                add(
                    f"unknown choice list {item.choices!r}{_suggest(item.choices, lists)}",
                    "choices",
                )
            elif not lists[item.choices]:
                add(f"choice list {item.choices!r} is empty", "choices")
        elif item.choices is not None:
            extra = " (its yes/no choices are built in)" if item.type is ItemType.CONSENT else ""
            add(f"{a_kind} item has no choice list{extra}; remove choices", "choices")

        if item.type is ItemType.MATRIX and not item.rows:
            add("a matrix needs rows", "type")
        if item.type is not ItemType.MATRIX and item.rows:
            add(f"only a matrix has rows, not {a_kind} item", "rows")
        if item.appearance.value == "dropdown" and item.type is not ItemType.SINGLE:
            add(f"appearance dropdown is only for single choice, not {a_kind} item", "appearance")
        if item.randomize and item.type not in CHOICE_TYPES:
            add(f"randomize is for single, multiple and matrix items, not {kind}", "randomize")

        if item.type in NUMBER_TYPES:
            if item.min is not None and item.max is not None and item.min > item.max:
                add(f"min ({item.min:g}) is larger than max ({item.max:g})", "min")
            if item.type is ItemType.INTEGER:
                for field, bound in (("min", item.min), ("max", item.max)):
                    if bound is not None and bound != int(bound):
                        add(f"{field} of an integer item must be a whole number", field)
        else:
            for field, bound in (("min", item.min), ("max", item.max)):
                if bound is not None:
                    add(f"{field} is only for integer and decimal items, not {kind}", field)
        if item.max_length is not None and item.type not in TEXT_TYPES:
            add(f"max_length is only for text and longtext items, not {kind}", "max_length")
        if item.open_text and item.type not in TEXT_TYPES:
            add(f"open_text is only for text and longtext items, not {kind}", "open_text")

        if item.type is ItemType.NOTE:
            if item.required is not False:
                add("a note has no answer, so it cannot be required", "required")
            if item.constraint is not None:
                add("a note has no answer, so it cannot have a constraint", "constraint")
        if item.constraint_message is not None and item.constraint is None:
            add("constraint_message without a constraint", "constraint_message")


# --- expressions ------------------------------------------------------------------------------


def _expressions(c: _Checker) -> Iterator[tuple[int, Item | None, str, str, Path]]:
    """Every condition: (page index, item or None for the page, field, source, path)."""
    for p, page in enumerate(c.study.pages):
        if page.relevant is not None:
            yield p, None, "relevant", page.relevant, ("pages", p, "relevant")
        for i, item in enumerate(page.items):
            base: Path = ("pages", p, "items", i)
            if item.relevant is not None:
                yield p, item, "relevant", item.relevant, (*base, "relevant")
            if isinstance(item.required, str):
                yield p, item, "required", item.required, (*base, "required")
            if item.constraint is not None:
                yield p, item, "constraint", item.constraint, (*base, "constraint")


def check_expressions(c: _Checker) -> None:
    """Conditions parse; `.` only in constraints; references exist, hold a value, and are not
    on a later page (nor on the same page for a page's own condition); no circular conditions."""
    # Edges of the "shown/required depends on" graph, between items on the same page.
    depends: dict[str, set[str]] = {}
    for p, item, field, source, path in _expressions(c):
        page_id = c.study.pages[p].id
        item_id = item.id if item is not None else None
        what = f"{field} {source!r}"

        def add(
            message: str,
            offset: int | None,
            *,
            _path: Path = path,
            _item: str | None = item_id,
            _page: str = page_id,
        ) -> None:
            c.add(message, _path, page=_page, item=_item, offset=offset, in_value=True)

        try:
            expr = parse(source)
        except ExpressionError as exc:
            add(f"{field} {source!r}: {exc.message}", exc.position)
            continue
        if uses_current(expr) and field != "constraint":
            add(
                f"'.' (this item's own value) is only allowed in a constraint, not in {field}; "
                "refer to an item as ${name}",
                source.find("."),
            )
        for ref in reference_nodes(expr):
            name = ref.name
            target = c.variables.get(name)
            if target is None:
                if name in c.items:
                    _p, other, _path = c.items[name]
                    if other.type is ItemType.MATRIX:
                        rows = ", ".join(row.id for row in other.rows[:3])
                        add(
                            f"${{{name}}} in {what} is a matrix; refer to one of its rows "
                            f"({rows}{', ...' if len(other.rows) > 3 else ''})",
                            ref.position,
                        )
                    else:
                        add(
                            f"${{{name}}} in {what} is a note, which has no value",
                            ref.position,
                        )
                else:
                    add(
                        f"unknown variable ${{{name}}} in {what}{_suggest(name, c.variables)}",
                        ref.position,
                    )
                continue
            if target.page_index > p:
                later = c.study.pages[target.page_index].id
                add(
                    f"${{{name}}} in {what} is asked later, on page {later!r}; a condition can "
                    "only use answers from this page or earlier pages",
                    ref.position,
                )
            elif target.page_index == p and item is None:
                add(
                    f"${{{name}}} in the page's relevant {source!r} is on the same page; "
                    "whether a page is shown can only depend on earlier pages",
                    ref.position,
                )
            elif target.page_index == p and item is not None and field != "constraint":
                if target.item.id == item.id:
                    add(
                        f"{field} of {item.id!r} refers to its own answer "
                        f"(${{{name}}}): a circular condition",
                        ref.position,
                    )
                else:
                    depends.setdefault(item.id, set()).add(target.item.id)
    _check_cycles(c, depends)


def _check_cycles(c: _Checker, depends: dict[str, set[str]]) -> None:
    """Report each cycle of same-page conditions once (at its first item in file order)."""
    reported: set[frozenset[str]] = set()
    for start in sorted(depends, key=lambda n: c.items[n][2]):
        # Depth-first search for a path back to `start`, iteratively.
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        visited: set[str] = set()
        while stack:
            node, trail = stack.pop()
            for nxt in sorted(depends.get(node, ())):
                if nxt == start:
                    cycle = frozenset(trail)
                    if cycle not in reported:
                        reported.add(cycle)
                        p, item, path = c.items[start]
                        chain = " -> ".join([*trail, start])
                        field = "relevant" if item.relevant is not None else "required"
                        c.add(
                            f"circular condition: {chain}; each item's relevant/required "
                            "depends on the next, so none can be decided",
                            (*path, field),
                            page=c.study.pages[p].id,
                            item=start,
                        )
                elif nxt not in visited:
                    visited.add(nxt)
                    stack.append((nxt, [*trail, nxt]))


# --- translations -----------------------------------------------------------------------------


def _texts(c: _Checker) -> Iterator[tuple[Text | None, Path, str | None, str | None, bool]]:
    """Every text of the study: (text, path, page, item, required-to-be-nonempty)."""
    s = c.study
    yield s.title, ("title",), None, None, True
    yield s.description, ("description",), None, None, False
    yield s.closing, ("closing",), None, None, False
    for p, page in enumerate(s.pages):
        yield page.title, ("pages", p, "title"), page.id, None, False
        for i, item in enumerate(page.items):
            base: Path = ("pages", p, "items", i)
            yield item.text, (*base, "text"), page.id, item.id, True
            yield item.hint, (*base, "hint"), page.id, item.id, False
            yield item.label, (*base, "label"), page.id, item.id, False
            yield item.constraint_message, (*base, "constraint_message"), page.id, item.id, False
            for r, row in enumerate(item.rows):
                yield row.text, (*base, "rows", r, "text"), page.id, row.id, True
                yield row.hint, (*base, "rows", r, "hint"), page.id, row.id, False
                yield row.label, (*base, "rows", r, "label"), page.id, row.id, False
    for name, choices in s.choice_lists.items():
        for k, choice in enumerate(choices):
            yield choice.label, ("choice_lists", name, k, "label"), None, None, True
    for k, scale in enumerate(s.scales):
        yield scale.label, ("scales", k, "label"), None, None, True
        yield scale.description, ("scales", k, "description"), None, None, False
    for k, model in enumerate(s.analysis.models):
        yield model.label, ("analysis", "models", k, "label"), None, None, False
    if s.privacy is not None:
        privacy = s.privacy
        for k, controller in enumerate(privacy.controllers):
            yield controller.name, ("privacy", "controllers", k, "name"), None, None, True
            yield controller.contact, ("privacy", "controllers", k, "contact"), None, None, False
        for field in ("collected", "purpose", "legal_basis", "retention"):
            yield getattr(privacy, field), ("privacy", field), None, None, True
        yield privacy.rights, ("privacy", "rights"), None, None, True
        yield privacy.contact.dpo, ("privacy", "contact", "dpo"), None, None, False


def _text_label(c: _Checker, path: Path, page: str | None) -> str:
    """How a problem message names a text: just the field inside a page (the location names
    the page and item), otherwise what the text belongs to."""
    field = str(path[-1])
    if page is not None:
        return "the page title" if path == ("pages", path[1], "title") else field
    if path[0] == "choice_lists" and len(path) == 4:
        choice = c.study.choice_lists[str(path[1])][int(path[2])]
        return f"choice list {path[1]!r}, code {choice.code}: {field}"
    if path[0] == "scales":
        return f"scale {c.study.scales[int(path[1])].id!r}: {field}"
    if path[0] == "analysis":
        return f"model {c.study.analysis.models[int(path[2])].id!r}: {field}"
    if path[0] == "privacy":
        return format_path(path)
    return {"title": "the study title", "closing": "the closing text"}.get(
        field, f"the study {field}"
    )


def check_translations(c: _Checker) -> None:
    """Every text is given in every language of the study (a plain string counts for all)."""
    languages = c.study.languages
    for text, path, page, item, needed in _texts(c):
        if text is None:
            continue
        label = _text_label(c, path, page)
        if isinstance(text, str):
            if needed and not text.strip():
                c.add(f"{label} is empty", path, page=page, item=item)
            continue
        missing = [lang for lang in languages if not text.get(lang, "").strip()]
        unknown = [lang for lang in text if lang not in languages]
        if missing:
            c.add(
                f"{label} is missing in {', '.join(missing)} "
                f"(the study's languages are {', '.join(languages)})",
                path,
                page=page,
                item=item,
            )
        for lang in unknown:
            c.add(
                f"{label} has a text in {lang!r}, which is not one of the study's languages "
                f"({', '.join(languages)})",
                (*path, lang),
                page=page,
                item=item,
            )


# --- scales and the analysis plan ------------------------------------------------------------


def _numeric(c: _Checker, var: _Variable) -> bool:
    item = var.item
    return item.type in NUMBER_TYPES or (
        item.type in (ItemType.SINGLE, ItemType.MATRIX) and item.choices is not None
    )


def check_scales(c: _Checker) -> None:
    """Scale items exist and are numeric; reverse-keyed items are items of the scale and have
    a choice list (reverse keying needs the scale's end points)."""
    for s, scale in enumerate(c.study.scales):
        base: Path = ("scales", s)
        if not scale.items:
            c.add(f"scale {scale.id!r} has no items", (*base, "items"))
        seen: set[str] = set()
        for k, name in enumerate(scale.items):
            path = (*base, "items", k)
            if name in seen:
                c.add(f"scale {scale.id!r} lists {name!r} twice", path)
                continue
            seen.add(name)
            var = c.variables.get(name)
            if var is None:
                c.add(
                    f"scale {scale.id!r}: unknown item {name!r}{_suggest(name, c.variables)}",
                    path,
                )
            elif not _numeric(c, var):
                c.add(
                    f"scale {scale.id!r}: {name!r} is a {var.item.type.value} item; scale "
                    "items must have a choice list or be integer or decimal",
                    path,
                )
        for k, name in enumerate(scale.reverse):
            path = (*base, "reverse", k)
            if name not in scale.items:
                c.add(f"scale {scale.id!r}: reverse-keyed {name!r} is not one of its items", path)
                continue
            var = c.variables.get(name)
            if var is not None and var.item.choices is None:
                c.add(
                    f"scale {scale.id!r}: reverse-keyed {name!r} has no choice list, so its "
                    "end points are unknown",
                    path,
                )


def check_analysis(c: _Checker) -> None:
    """The clustering and grouping variables exist, and a model that asks for cluster-robust
    standard errors has MLR and a cluster variable to work with."""
    plan = c.study.analysis
    for m, model in enumerate(plan.models):
        if not model.cluster:
            continue
        if model.estimator != "MLR":
            c.add(
                f"model {model.id!r}: cluster-robust standard errors (cluster: true) are MLR's; "
                "set estimator: MLR",
                ("analysis", "models", m, "estimator"),
            )
        if plan.cluster is None and not plan.settings.get("multilevel", {}).get("cluster"):
            c.add(
                f"model {model.id!r}: cluster: true needs the plan's cluster variable "
                "(analysis: cluster: <variable>, e.g. the organisation)",
                ("analysis", "models", m, "cluster"),
            )
    if plan.cluster is not None and plan.cluster not in c.variables:
        c.add(
            f"analysis cluster: unknown variable {plan.cluster!r}"
            f"{_suggest(plan.cluster, c.variables)}",
            ("analysis", "cluster"),
        )
    for k, name in enumerate(plan.groups):
        if name not in c.variables:
            c.add(
                f"analysis groups: unknown variable {name!r}{_suggest(name, c.variables)}",
                ("analysis", "groups", k),
            )


# --- privacy statement ------------------------------------------------------------------------

#: Deliberately loose: one @, no spaces, a dot in the domain. Whether the address is read is
#: for the team to confirm; this catches a name or a URL typed where the address belongs.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")


def check_privacy(c: _Checker) -> None:
    """The privacy statement names at least one controller and a usable contact address."""
    privacy = c.study.privacy
    if privacy is None:
        return
    if not privacy.controllers:
        c.add(
            "privacy: controllers is empty; name the institution(s) responsible for the data",
            ("privacy", "controllers"),
        )
    email = privacy.contact.email.strip()
    if not _EMAIL.match(email):
        c.add(
            f"privacy.contact.email: {email!r} is not an e-mail address "
            "(write it like privacy@example.org)",
            ("privacy", "contact", "email"),
        )


# --- variable names ---------------------------------------------------------------------------


def check_names(c: _Checker) -> None:
    """Every column of the exports (variables, multiple-choice 0/1 columns, scale scores) is a
    legal SPSS and Stata name, and no derived column collides with another column."""
    columns: dict[str, str] = {}
    for var in c.variables.values():
        page_id = c.study.pages[var.page_index].id
        for message in name_problems(var.name):
            c.add(f"variable name {message}", (*var.path, "id"), page=page_id, item=var.name)
        columns[var.name] = f"variable {var.name!r}"
    for var in c.variables.values():
        item = var.item
        if item.type is not ItemType.MULTIPLE:
            continue
        page_id = c.study.pages[var.page_index].id
        done: set[int] = set()
        for choice in c.study.choices_of(item):
            if choice.code in done:
                continue
            done.add(choice.code)
            column = multiple_choice_column(item.id, choice.code)
            for message in name_problems(column):
                c.add(
                    f"the column for choice {choice.code} of {item.id!r}: {message}",
                    (*var.path, "id"),
                    page=page_id,
                    item=item.id,
                )
            if column in columns:
                c.add(
                    f"the column {column!r} for choice {choice.code} of {item.id!r} collides "
                    f"with {columns[column]}; rename one of them",
                    (*var.path, "id"),
                    page=page_id,
                    item=item.id,
                )
            else:
                columns[column] = f"choice {choice.code} of {item.id!r}"
    for s, scale in enumerate(c.study.scales):
        for message in name_problems(scale.id):
            c.add(f"scale id {message}", ("scales", s, "id"))
        if scale.id not in c.variables and scale.id in columns:
            c.add(
                f"scale id {scale.id!r} collides with {columns[scale.id]}",
                ("scales", s, "id"),
            )


CHECKS = (
    check_ids,
    check_item_fields,
    check_expressions,
    check_translations,
    check_scales,
    check_analysis,
    check_names,
    check_privacy,
)


def validate_study(study: Study, source_map: SourceMap | None = None) -> list[Problem]:
    """Every cross-reference problem of `study`, in file order (lines from `source_map`)."""
    checker = _Checker(study, source_map or SourceMap())
    for check in CHECKS:
        check(checker)
    return sorted(
        checker.problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0, p.message)
    )


def check_file(path: str | FsPath) -> tuple[Study | None, list[Problem]]:
    """Read, build and validate a study file: (the study or None, every problem found)."""
    from vakstem.instrument.loader import check_text, read_study_file

    text, problems = read_study_file(path)
    if text is None:
        return None, problems
    return check_text(text, str(path))
