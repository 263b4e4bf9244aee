"""The parameter table: from parsed syntax to every parameter of the model, with lavaan's defaults
for `cfa()`/`sem()` (marker indicators or `std.lv`, free residual variances, covariances among
exogenous latent variables and among pure outcomes, fixed.x covariates, intercepts when there is a
mean structure) and equality constraints from shared labels and `group.equal`.

Rows come in lavaan's order (user rows, then the defaults), so the `.pN.` labels that lavaan gives
to parameters constrained by `group.equal` are the same here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from vakstem.analysis.sem.errors import ModelSpecificationError
from vakstem.analysis.sem.syntax import Definition, Formula, ParsedModel, expression_names

GROUP_EQUAL_CHOICES = (
    "loadings",
    "intercepts",
    "means",
    "regressions",
    "residuals",
    "residual.covariances",
    "lv.variances",
    "lv.covariances",
)


@dataclass
class Row:
    """One parameter of one group; `free` is 0 for fixed parameters, else the 1-based index of
    the free parameter (shared by rows that are constrained equal)."""

    id: int
    lhs: str
    op: str
    rhs: str
    group: int
    user: bool
    free: int
    value: float
    label: str
    exo: bool = False  # fixed.x: set from the sample statistics, not estimated
    pinned: bool = False  # fixed by a `label == number` constraint (lavaan: se NA, not 0)


@dataclass
class ParTable:
    rows: list[Row]
    definitions: tuple[Definition, ...]
    ov: list[str]  # observed variables of the model, lavaan's order
    ov_x: list[str]  # fixed.x exogenous covariates
    lv: list[str]
    n_groups: int
    meanstructure: bool
    n_free: int
    label_rows: dict[str, int] = field(default_factory=dict)  # label -> a row index

    @property
    def ov_nox(self) -> list[str]:
        return [v for v in self.ov if v not in self.ov_x]


def _ordered_unique(values: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def _key(lhs: str, op: str, rhs: str) -> tuple[str, str, str]:
    if op == "~~" and rhs < lhs:
        return (rhs, op, lhs)
    return (lhs, op, rhs)


def build_partable(
    parsed: ParsedModel,
    *,
    n_groups: int = 1,
    std_lv: bool = False,
    meanstructure: bool = False,
    group_equal: Sequence[str] = (),
    group_partial: Sequence[str] = (),
    fixed_x: bool = True,
) -> ParTable:
    """Expand a parsed model into its full parameter table (see the module docstring).

    `group_partial` names parameters exempt from `group_equal` in lavaan's notation
    (`"visual =~ x2"`, `"x3 ~ 1"`), for partial invariance."""
    for choice in group_equal:
        if choice not in GROUP_EQUAL_CHOICES:
            raise ModelSpecificationError(
                f"group_equal value {choice!r} is not known; use one of "
                + ", ".join(GROUP_EQUAL_CHOICES)
            )
    formulas = list(parsed.formulas)
    if any(f.op == "~1" for f in formulas):
        meanstructure = True

    lv = _ordered_unique([f.lhs for f in formulas if f.op == "=~"])
    indicators = _ordered_unique([f.term.name for f in formulas if f.op == "=~"])
    eqs_y = _ordered_unique([f.lhs for f in formulas if f.op == "~"])
    eqs_x = _ordered_unique([f.term.name for f in formulas if f.op == "~"])
    ov_ind = [v for v in indicators if v not in lv]
    ov_y = [v for v in eqs_y if v not in lv and v not in ov_ind]
    ov_x_candidates = [v for v in eqs_x if v not in lv and v not in ov_ind and v not in ov_y]
    # lavaan lists all left-hand sides of `~~` before all right-hand sides.
    cov_names = [f.lhs for f in formulas if f.op == "~~" and f.lhs not in lv] + [
        f.term.name for f in formulas if f.op == "~~" and f.term.name not in lv
    ]
    int_names = [f.lhs for f in formulas if f.op == "~1" and f.lhs not in lv]
    ov = _ordered_unique(ov_ind + ov_y + ov_x_candidates + cov_names + int_names)
    user_touched = {f.lhs for f in formulas if f.op in ("~~", "~1")} | {
        f.term.name for f in formulas if f.op == "~~"
    }
    # lavaan treats a covariate as exogenous (fixed.x) only if the user did not give it a
    # variance, covariance or intercept of its own.
    ov_x = [v for v in ov_x_candidates if v not in user_touched] if fixed_x else []
    ov_nox = [v for v in ov if v not in ov_x]
    lv_x = [v for v in lv if v not in indicators and v not in eqs_y]
    pure_y = [v for v in eqs_y if v not in indicators and v not in eqs_x]
    lv_y = [v for v in lv if v in pure_y]
    ov_y_pure = [v for v in ov if v in pure_y and v not in lv]

    for f in formulas:
        if f.op == "=~" and f.term.name == f.lhs:
            raise ModelSpecificationError(
                f"line {f.line}: latent variable {f.lhs!r} cannot be its own indicator"
            )
        if f.op == "~" and f.term.name == f.lhs:
            raise ModelSpecificationError(f"line {f.line}: {f.lhs!r} cannot be regressed on itself")
    seen: dict[tuple[str, str, str], int] = {}
    for f in formulas:
        key = _key(f.lhs, f.op, f.term.name if f.op != "~1" else "")
        if key in seen:
            shown = f"{f.lhs} ~ 1" if f.op == "~1" else f"{f.lhs} {f.op} {f.term.name}"
            raise ModelSpecificationError(
                f"line {f.line}: the parameter '{shown}' is already specified on line {seen[key]}"
            )
        seen[key] = f.line
    for f in formulas:
        for values in (f.term.fixed, f.term.labels):
            if len(values) not in (0, 1, n_groups):
                raise ModelSpecificationError(
                    f"line {f.line}: c(...) on '{f.term.name}' has {len(values)} values but there "
                    f"are {n_groups} groups"
                )

    # Template of (lhs, op, rhs, formula or None) in lavaan's order, for one group.
    template: list[tuple[str, str, str, Formula | None]] = []
    # As lavaan, a covariance is written with the variable that comes first (latent variables
    # before observed ones, each in model order) on the left.
    position = {name: i for i, name in enumerate(lv + ov)}
    for f in formulas:
        lhs, rhs = f.lhs, ("" if f.op == "~1" else f.term.name)
        if f.op == "~~" and lhs != rhs and position[lhs] > position[rhs]:
            lhs, rhs = rhs, lhs
        template.append((lhs, f.op, rhs, f))
    specified = {_key(lhs, op, rhs) for lhs, op, rhs, _ in template}

    def add_default(lhs: str, op: str, rhs: str) -> None:
        key = _key(lhs, op, rhs)
        if key not in specified:
            specified.add(key)
            template.append((lhs, op, rhs, None))

    for v in ov_nox + lv:
        add_default(v, "~~", v)
    for a, b in combinations(lv_x, 2):
        add_default(a, "~~", b)
    for a, b in combinations(lv_y + ov_y_pure, 2):
        add_default(a, "~~", b)
    for j, xj in enumerate(ov_x):
        for xi in ov_x[j:]:
            add_default(xj, "~~", xi)
    if meanstructure:
        for v in ov_nox + ov_x + lv:
            add_default(v, "~1", "")

    first_indicator: dict[str, str] = {}
    for lhs, op, rhs, _ in template:
        if op == "=~":
            first_indicator.setdefault(lhs, rhs)
    indicator_count = {name: 0 for name in lv}
    for lhs, op, _rhs, _ in template:
        if op == "=~":
            indicator_count[lhs] += 1
    # lavaan's auto.fix.single: the residual variance of a factor's only indicator is fixed to
    # 0, unless that indicator also measures another factor.
    loads_on = {name: 0 for _lhs, op, name, _ in template if op == "=~"}
    for _lhs, op, name, _ in template:
        if op == "=~":
            loads_on[name] += 1
    single_indicator = {
        rhs
        for lhs, op, rhs, _ in template
        if op == "=~" and indicator_count[lhs] == 1 and loads_on[rhs] == 1
    }

    def group_value(values: tuple[object, ...], g: int) -> object:
        if not values:
            return "unset"
        return values[0] if len(values) == 1 else values[g]

    rows: list[Row] = []
    for g in range(n_groups):
        for lhs, op, rhs, formula in template:
            fixed_mod = group_value(formula.term.fixed, g) if formula else "unset"
            label_mod = group_value(formula.term.labels, g) if formula else "unset"
            label = label_mod if isinstance(label_mod, str) and label_mod != "unset" else ""
            exo = op in ("~~", "~1") and lhs in ov_x and (op == "~1" or rhs in ov_x)
            free = True
            value = 0.0
            if op == "=~":
                value = 1.0
                if not std_lv and first_indicator.get(lhs) == rhs:
                    free = False
            elif op == "~~" and lhs == rhs:
                value = 1.0
                # With std.lv and equal loadings, only the first group's latent variances are
                # fixed to 1 (lavaan frees them in the other groups).
                if lhs in lv and std_lv and not (g > 0 and "loadings" in group_equal):
                    free = False
                if lhs in single_indicator and formula is None:
                    free, value = False, 0.0
            elif op == "~1" and lhs in lv:
                free = formula is not None or (
                    g > 0 and "intercepts" in group_equal and "means" not in group_equal
                )
            if exo:
                free = False
            if fixed_mod == "unset" or fixed_mod == "":
                pass
            elif fixed_mod is None:
                free = True
            else:
                free = False
                value = float(fixed_mod)  # type: ignore[arg-type]
            rows.append(
                Row(
                    id=len(rows) + 1,
                    lhs=lhs,
                    op=op,
                    rhs=rhs,
                    group=g + 1,
                    user=formula is not None,
                    free=1 if free else 0,
                    value=value,
                    label=label,
                    exo=exo,
                )
            )

    partial = {_parse_partial(text) for text in group_partial}
    # Equality constraints: rows sharing a user label, and group.equal across groups.
    n_rows_group = len(template)
    label_of: dict[int, str] = {}
    for row in rows:
        if row.label:
            label_of[row.id] = row.label
    if n_groups > 1 and group_equal:
        for i, (lhs, op, rhs, _) in enumerate(template):
            first = rows[i]
            if not first.free or first.label:
                continue
            if not _in_group_equal(lhs, op, rhs, lv, group_equal):
                continue
            if _key(lhs, op, rhs) in partial:
                continue
            plabel = f".p{first.id}."
            for g in range(n_groups):
                row = rows[g * n_rows_group + i]
                if row.free and not row.label:
                    row.label = plabel
                    label_of[row.id] = plabel

    # `a == b` joins two labels into one free parameter; `a == 0.5` fixes a label.
    representative: dict[str, str] = {}

    def find(label: str) -> str:
        while representative.get(label, label) != label:
            label = representative[label]
        return label

    all_labels = {row.label for row in rows if row.label}
    for constraint in parsed.constraints:
        names = [constraint.lhs] + ([constraint.rhs] if isinstance(constraint.rhs, str) else [])
        for name in names:
            if name not in all_labels:
                raise ModelSpecificationError(
                    f"line {constraint.line}: the constraint uses {name!r}, which is not a "
                    "label in the model"
                )
        if isinstance(constraint.rhs, str):
            a, b = find(constraint.lhs), find(constraint.rhs)
            if a != b:
                representative[b] = a
        else:
            for row in rows:
                if row.label == constraint.lhs:
                    row.free, row.value, row.pinned = 0, constraint.rhs, True

    free_of_label: dict[str, int] = {}
    n_free = 0
    label_rows: dict[str, int] = {}
    for index, row in enumerate(rows):
        if row.label:
            label_rows.setdefault(row.label, index)
        if not row.free:
            continue
        if row.label:
            joined = find(row.label)
            if joined not in free_of_label:
                n_free += 1
                free_of_label[joined] = n_free
            row.free = free_of_label[joined]
        else:
            n_free += 1
            row.free = n_free

    definitions = parsed.definitions
    known = set(label_rows)
    for definition in definitions:
        for name in expression_names(definition.expression):
            if name not in known:
                raise ModelSpecificationError(
                    f"line {definition.line}: defined parameter {definition.name!r} uses "
                    f"{name!r}, which is not a label in the model"
                )
        if definition.name in label_rows:
            raise ModelSpecificationError(
                f"line {definition.line}: {definition.name!r} is already a parameter label"
            )
        known.add(definition.name)

    table = ParTable(
        rows=rows,
        definitions=definitions,
        ov=ov,
        ov_x=ov_x,
        lv=lv,
        n_groups=n_groups,
        meanstructure=meanstructure,
        n_free=n_free,
        label_rows=label_rows,
    )
    _check_identification(table, std_lv)
    return table


def _parse_partial(text: str) -> tuple[str, str, str]:
    compact = text.replace(" ", "")
    for op in ("=~", "~~", "~1", "~"):
        lhs, found, rhs = compact.partition(op)
        if found and lhs and (rhs or op == "~1"):
            if op == "~" and rhs == "1":
                return (lhs, "~1", "")
            return _key(lhs, op, rhs if op != "~1" else "")
    raise ModelSpecificationError(
        f"group_partial entry {text!r} is not a parameter like 'f =~ x2' or 'x3 ~ 1'"
    )


def _in_group_equal(lhs: str, op: str, rhs: str, lv: list[str], group_equal: Sequence[str]) -> bool:
    if op == "=~":
        return "loadings" in group_equal
    if op == "~":
        return "regressions" in group_equal
    if op == "~1":
        return ("means" if lhs in lv else "intercepts") in group_equal
    if op == "~~":
        latent = lhs in lv
        if lhs == rhs:
            return ("lv.variances" if latent else "residuals") in group_equal
        return ("lv.covariances" if latent else "residual.covariances") in group_equal
    return False


def _check_identification(table: ParTable, std_lv: bool) -> None:
    """Catch the common ways a model is not identified before estimating it."""
    groups_of_free: dict[int, set[int]] = {}
    for r in table.rows:
        if r.free:
            groups_of_free.setdefault(r.free, set()).add(r.group)
    for g in range(1, table.n_groups + 1):
        rows = [r for r in table.rows if r.group == g]
        for name in table.lv:
            loadings = [r for r in rows if r.op == "=~" and r.lhs == name]
            variance = next(r for r in rows if r.op == "~~" and r.lhs == name and r.rhs == name)
            # A loading held equal to another group's borrows that group's scale.
            unscaled = all(r.free and groups_of_free[r.free] == {g} for r in loadings)
            if loadings and unscaled and variance.free:
                raise ModelSpecificationError(
                    f"the model is not identified: latent variable {name!r} has no scale "
                    "(fix one loading, e.g. 1*x, or its variance, e.g. "
                    f"{name} ~~ 1*{name}, or use std_lv)"
                )
    p = len(table.ov_nox)
    per_group = p * (p + 1) // 2 + (p if table.meanstructure else 0)
    nx = len(table.ov_x)
    per_group += nx * p
    n_moments = per_group * table.n_groups
    if table.n_free > n_moments:
        raise ModelSpecificationError(
            f"the model is not identified: it has {table.n_free} free parameters but the data "
            f"give only {n_moments} sample moments (degrees of freedom {n_moments - table.n_free})"
        )
