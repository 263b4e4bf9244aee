"""The methods-and-results text: APA-style numbers, and the indirect effects' interval from the
bootstrap only when enough draws were made."""

from __future__ import annotations

from typing import Any

from vakstem.analysis.text import MIN_BOOTSTRAP_FOR_TEXT, fit_text, methods_and_results, num, pvalue


def _results(successful: int) -> dict[str, Any]:
    indirect = {
        "lhs": "ind_O",
        "op": ":=",
        "rhs": "o1*b",
        "est": 0.2,
        "std.all": 0.15,
        "std.ci.lower": 0.1,
        "std.ci.upper": 0.2,
        "boot.std.lower": 0.11,
        "boot.std.upper": 0.21,
        "boot.ci.lower": 0.12,
        "boot.ci.upper": 0.3,
    }
    model = {
        "id": "sem",
        "status": "ok",
        "nobs": 500,
        "estimator": "MLR",
        "fit": {"chisq": 12.345, "df": 8.0, "pvalue": 0.0004, "cfi": 0.987, "tli": 0.97},
        "regressions": [],
        "defined": [indirect],
        "bootstrap": {"draws": successful, "successful": successful, "seed": 1},
    }
    return {"steps": {"structural": {"models": [model]}}}


def test_numbers_follow_apa_style() -> None:
    assert num(0.456, 2, zero=False) == ".46" and num(-0.456, 2, zero=False) == "−.46"
    assert pvalue(0.0004) == "p < .001" and pvalue(0.0312) == "p = .031"
    text = fit_text({"chisq": 12.345, "df": 8.0, "pvalue": 0.13, "cfi": 0.987}, nl=False)
    assert text.startswith("χ²(8) = 12.35, p = .130, CFI = .987")


def test_indirect_effect_takes_the_bootstrap_interval_only_with_enough_draws() -> None:
    enough = " ".join(methods_and_results(_results(MIN_BOOTSTRAP_FOR_TEXT), "en"))
    few = " ".join(methods_and_results(_results(4), "en"))
    assert "ind_O: β = 0.150, 95% bootstrap CI [0.110, 0.210] (b = 0.200" in enough
    assert "ind_O: β = 0.150, 95% CI [0.100, 0.200]" in few
    assert "4 bootstrap draws are too few" in few
    dutch = " ".join(methods_and_results(_results(4), "nl"))
    assert "95% BI [0.100, 0.200]" in dutch and "deltamethode" in dutch
