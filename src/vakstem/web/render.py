"""View models for the respondent pages: a `PageView` from the service, the answers to show and
the validation errors, turned into plain objects the Jinja templates render without logic.

Also builds the welcome page shown before a response exists (a link preview must not create a
response), and the JSON shapes of pages used by the API, so the two front ends show one thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from markupsafe import Markup, escape

from vakstem.instrument.schema import Choice, Item, ItemType, Study, text_in
from vakstem.instrument.textformat import plain_text
from vakstem.service.types import ItemError, PageView, ShownItem
from vakstem.web.conditions_json import page_conditions, script_json
from vakstem.web.i18n import N_, Catalogues

#: Consent has fixed choices: 1 = yes, 0 = no; their labels come from the interface catalogue.
CONSENT_YES = N_("Yes, I take part")
CONSENT_NO = N_("No, I do not take part")

#: What a form field shows: the typed text, or the selected codes of a checkbox group.
FieldValue = str | list[str]


@dataclass(frozen=True)
class ChoiceView:
    code: str
    label: str
    missing: bool
    checked: bool
    input_id: str


@dataclass(frozen=True)
class RowView:
    """One matrix row: its own variable with a radio per choice (`cells`, the row's table
    cells as finished HTML: see `_matrix_cells`)."""

    variable: str
    text: str
    hint: str
    cells: Markup
    errors: tuple[str, ...]
    hint_id: str
    error_id: str

    @property
    def describedby(self) -> str:
        return _ids((self.hint_id, bool(self.hint)), (self.error_id, bool(self.errors)))


@dataclass(frozen=True)
class ItemView:
    id: str
    type: str
    text: str
    hint: str
    required: bool
    dropdown: bool = False
    value: str = ""
    choices: tuple[ChoiceView, ...] = ()
    rows: tuple[RowView, ...] = ()
    errors: tuple[str, ...] = ()
    min: str = ""
    max: str = ""
    max_length: int | None = None
    #: The column header labels of a matrix (the shared choice list).
    headers: tuple[str, ...] = ()
    #: A dropdown's <option> elements as finished HTML (see `_dropdown_options`).
    options: Markup = field(default_factory=Markup)

    @property
    def input_id(self) -> str:
        return f"f-{self.id}"

    @property
    def hint_id(self) -> str:
        return f"h-{self.id}"

    @property
    def error_id(self) -> str:
        return f"e-{self.id}"

    @property
    def counter_id(self) -> str:
        return f"c-{self.id}"

    @property
    def invalid(self) -> bool:
        return bool(self.errors) or any(row.errors for row in self.rows)

    @property
    def describedby(self) -> str:
        return _ids(
            (self.hint_id, bool(self.hint)),
            (self.counter_id, self.max_length is not None and self.type == ItemType.LONGTEXT),
            (self.error_id, bool(self.errors)),
        )


@dataclass(frozen=True)
class ErrorLink:
    """An entry of the error summary at the top of the page, linking to its field."""

    target: str
    label: str
    message: str


@dataclass(frozen=True)
class PageModel:
    id: str
    title: str
    index: int
    total: int
    items: tuple[ItemView, ...]
    can_go_back: bool
    error_summary: tuple[ErrorLink, ...] = field(default=())
    #: JSON of the live conditions for the page's script (empty when none), see conditions_json.
    conditions: str = ""

    @property
    def percent(self) -> int:
        return round(100 * self.index / self.total) if self.total else 0


def _ids(*pairs: tuple[str, bool]) -> str:
    return " ".join(ident for ident, present in pairs if present)


#: Escaped (code, label, id suffix) of a choice list per language, by the list's identity (a
#: study's lists are the same tuples for as long as its parsed model is kept), with the list
#: itself so a reused id of a list that is gone is never taken for it.
_ESCAPED: dict[tuple[int, str, str], tuple[Sequence[Choice], tuple[tuple[str, str, str], ...]]]
_ESCAPED = {}
_ESCAPED_KEPT = 512


def escaped_choices(
    choices: Sequence[Choice], language: str, default_language: str
) -> tuple[tuple[str, str, str], ...]:
    """(code, label, input-id suffix) of every choice, HTML-escaped, with the label in
    `language`: a matrix page repeats each label in every row and the organisation list has
    hundreds of options, and escaping them through the template on every page view was most
    of the page's rendering time."""
    key = (id(choices), language, default_language)
    hit = _ESCAPED.get(key)
    if hit is not None and hit[0] is choices:
        return hit[1]
    pieces = tuple(
        (
            str(escape(str(c.code))),
            str(escape(text_in(c.label, language, default_language))),
            str(escape(_code_id(c.code))),
        )
        for c in choices
    )
    if len(_ESCAPED) >= _ESCAPED_KEPT:
        _ESCAPED.clear()
    _ESCAPED[key] = (choices, pieces)
    return pieces


def _matrix_cells(
    row_id: str,
    row_name: str,
    choices: tuple[tuple[str, str, str], ...],
    selected: str,
    attributes: str,
) -> Markup:
    """The radio cells of one matrix row, as the template used to write them cell by cell."""
    name = escape(row_id)
    label_prefix = escape(row_name)
    cells = []
    for code, label, suffix in choices:
        input_id = f"f-{name}-{suffix}"
        checked = " checked" if code == selected else ""
        cells.append(
            f'<td><input type="radio" id="{input_id}" name="{name}" value="{code}"{checked}'
            f'{attributes}><label for="{input_id}"><span class="vh">{label_prefix}: </span>'
            f'<span class="cl">{label}</span></label></td>'
        )
    return Markup("".join(cells))


def _dropdown_options(choices: tuple[tuple[str, str, str], ...], value: FieldValue) -> Markup:
    selected = set(value) if isinstance(value, list) else {value}
    return Markup(
        "".join(
            f'<option value="{code}"{" selected" if code in selected else ""}>{label}</option>\n'
            for code, label, _suffix in choices
        )
    )


def _fmt_number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def field_value(value: Any) -> FieldValue:
    """A stored answer or a submitted raw value as the text a form field shows."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v is not None]
    if isinstance(value, float):
        return _fmt_number(value)
    return str(value)


def consent_choices(catalogues: Catalogues, language: str) -> tuple[Choice, ...]:
    return (
        Choice(code=1, label=catalogues.gettext(language, CONSENT_YES)),
        Choice(code=0, label=catalogues.gettext(language, CONSENT_NO)),
    )


def shown_choices(study: Study, shown: ShownItem) -> tuple[Choice, ...]:
    """The choices in the order the service gives (randomised per response), else the list's."""
    return shown.choices or study.choices_of(shown.item)


def preview_page(study: Study, page_index: int = 0) -> PageView:
    """A page as shown before any response exists: the welcome page of an anonymous link.

    Items whose conditions refer to items on the same page are shown (as on a form without
    JavaScript); the service drops their answers on submit when they turn out hidden.
    """
    page = study.pages[page_index]
    items = tuple(
        ShownItem(
            item=item,
            choices=study.choices_of(item),
            rows=item.rows,
            required=item.required is True,
        )
        for item in page.items
    )
    return PageView(
        page=page,
        index=page_index,
        total=len(study.pages),
        items=items,
        can_go_back=False,
    )


def _errors_by_variable(errors: Iterable[ItemError]) -> dict[str, list[ItemError]]:
    by_var: dict[str, list[ItemError]] = {}
    for error in errors:
        by_var.setdefault(error.variable, []).append(error)
    return by_var


def build_page(
    study: Study,
    view: PageView,
    *,
    language: str,
    catalogues: Catalogues,
    values: Mapping[str, Any],
    errors: Sequence[ItemError] = (),
    today: date | None = None,
) -> PageModel:
    """Everything the page template needs, in `language`, with `values` filled in."""
    by_var = _errors_by_variable(errors)

    def messages(variable: str, item: Item) -> tuple[str, ...]:
        return tuple(catalogues.item_error(language, e, item) for e in by_var.get(variable, ()))

    def choice_views(
        prefix: str, choices: Sequence[Choice], value: FieldValue
    ) -> tuple[ChoiceView, ...]:
        selected = set(value) if isinstance(value, list) else {value}
        return tuple(
            ChoiceView(
                code=str(c.code),
                label=text_in(c.label, language, study.default_language),
                missing=c.missing,
                checked=str(c.code) in selected,
                input_id=f"{prefix}-{_code_id(c.code)}",
            )
            for c in choices
        )

    views: list[ItemView] = []
    summary: list[ErrorLink] = []
    for shown in view.items:
        item = shown.item
        text = text_in(item.text, language, study.default_language)
        hint = text_in(item.hint, language, study.default_language)
        if item.type is ItemType.MATRIX:
            choices = shown_choices(study, shown)
            escaped = escaped_choices(choices, language, study.default_language)
            rows: list[RowView] = []
            for row in shown.rows or item.rows:
                row_errors = messages(row.id, item)
                row_text = text_in(row.text, language, study.default_language)
                row_hint = text_in(row.hint, language, study.default_language)
                described = _ids((f"h-{row.id}", bool(row_hint)), (f"e-{row.id}", bool(row_errors)))
                attributes = (f' aria-describedby="{escape(described)}"' if described else "") + (
                    ' aria-invalid="true"' if row_errors else ""
                )
                value = field_value(values.get(row.id))
                rows.append(
                    RowView(
                        variable=row.id,
                        text=row_text,
                        hint=row_hint,
                        cells=_matrix_cells(
                            row.id,
                            plain_text(row_text),
                            escaped,
                            value if isinstance(value, str) else "",
                            attributes,
                        ),
                        errors=row_errors,
                        hint_id=f"h-{row.id}",
                        error_id=f"e-{row.id}",
                    )
                )
                if row_errors:
                    summary.append(
                        ErrorLink(
                            f"f-{row.id}-{_code_id(choices[0].code)}" if choices else "",
                            row_text,
                            "; ".join(row_errors),
                        )
                    )
            views.append(
                ItemView(
                    id=item.id,
                    type=item.type.value,
                    text=text,
                    hint=hint,
                    required=shown.required,
                    rows=tuple(rows),
                    headers=tuple(
                        text_in(c.label, language, study.default_language) for c in choices
                    ),
                    errors=messages(item.id, item),
                )
            )
            continue

        value = field_value(values.get(item.id))
        if item.type is ItemType.CONSENT:
            choices = consent_choices(catalogues, language)
        else:
            choices = shown_choices(study, shown)
        dropdown = item.type is ItemType.SINGLE and item.appearance.value == "dropdown"
        item_view = ItemView(
            id=item.id,
            type=item.type.value,
            text=text,
            hint=hint,
            required=shown.required,
            dropdown=dropdown,
            value=value if isinstance(value, str) else "",
            choices=() if dropdown else choice_views(f"f-{item.id}", choices, value),
            options=(
                _dropdown_options(escaped_choices(choices, language, study.default_language), value)
                if dropdown
                else Markup("")
            ),
            errors=messages(item.id, item),
            min=_fmt_number(item.min),
            max=_fmt_number(item.max),
            max_length=item.max_length,
        )
        views.append(item_view)
        if item_view.errors:
            summary.append(ErrorLink(_first_input(item_view), text, "; ".join(item_view.errors)))

    # Errors on variables not on this page (an API-style mistake in a hand-made form) still show.
    shown_vars = {v for s in view.items for v in s.item.variables()}
    for variable, errs in by_var.items():
        if variable not in shown_vars:
            summary.append(
                ErrorLink(
                    "", variable, "; ".join(catalogues.item_error(language, e, None) for e in errs)
                )
            )

    return PageModel(
        id=view.page.id,
        title=text_in(view.page.title, language, study.default_language),
        index=view.index,
        total=view.total,
        items=tuple(views),
        can_go_back=view.can_go_back,
        error_summary=tuple(summary),
        conditions=script_json(
            page_conditions(study, view, values, today or datetime.now(UTC).date())
        ),
    )


def _code_id(code: int) -> str:
    # Negative codes (e.g. -1 for "weet ik niet") would give ids like "f-q--1"; spell them out.
    return f"m{-code}" if code < 0 else str(code)


def _first_input(view: ItemView) -> str:
    """The field the error summary links to: a group's first radio, else the input itself."""
    if view.type in {"single", "multiple", "consent"} and not view.dropdown and view.choices:
        return view.choices[0].input_id
    return view.input_id


def page_json(
    study: Study, view: PageView, *, language: str, catalogues: Catalogues
) -> dict[str, Any]:
    """The page as the JSON API returns it, texts in `language`."""

    def t(text: Any) -> str:
        return text_in(text, language, study.default_language)

    items: list[dict[str, Any]] = []
    for shown in view.items:
        item = shown.item
        if item.type is ItemType.CONSENT:
            choices = consent_choices(catalogues, language)
        else:
            choices = shown_choices(study, shown)
        hint = t(item.hint) if item.hint is not None else None
        items.append(
            {
                "id": item.id,
                "type": item.type.value,
                "required": shown.required,
                "text": t(item.text),
                "hint": hint,
                "choices": [
                    {"code": c.code, "label": t(c.label), "missing": c.missing} for c in choices
                ],
                "rows": [{"id": r.id, "text": t(r.text)} for r in (shown.rows or item.rows)],
                "min": item.min,
                "max": item.max,
                "max_length": item.max_length,
            }
        )
    return {
        "id": view.page.id,
        "title": t(view.page.title) if view.page.title is not None else None,
        "index": view.index,
        "total": view.total,
        "items": items,
    }
