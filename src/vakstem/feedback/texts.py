"""The words of the feedback surfaces, Dutch first with English, and plain-language (B1)
explanations of the klantmanager study's scales.

Feedback is a library usable without the web app (benchmark reports are offline files), so its
texts live here rather than in the web interface catalogues; the web routes add only their own
page titles and messages to those catalogues.
"""

from __future__ import annotations

from typing import Any

from vakstem.instrument.schema import Scale, Study, text_in

_TEXTS: dict[str, tuple[str, str]] = {
    # key: (Dutch, English)
    "hidden": ("niet getoond", "not shown"),
    "hidden_note": (
        "Groepen met minder dan %(k)s mensen laten we niet zien. Soms verbergen we ook een "
        "tweede groep, zodat je de kleine groep niet kunt uitrekenen.",
        "We do not show groups of fewer than %(k)s people. Sometimes we also hide a second "
        "group, so that the small group cannot be worked out.",
    ),
    "mirror_heading": ("Jouw antwoorden naast die van anderen", "Your answers next to others'"),
    "mirror_intro": (
        "Hieronder zie je jouw score per onderwerp. Scores lopen van 1 (laag) tot 5 (hoog). "
        "Je ziet ook hoe %(n)s klantmanagers die de vragenlijst hebben afgemaakt scoren: de "
        "middelste score (mediaan) en de middelste helft van de scores.",
        "Below you see your score per topic. Scores run from 1 (low) to 5 (high). You also see "
        "how %(n)s klantmanagers who finished the questionnaire score: the middle score "
        "(median) and the middle half of the scores.",
    ),
    "mirror_later": (
        "Je vergelijking met andere klantmanagers is er nog niet. Die komt er als minstens "
        "%(min)s mensen de vragenlijst hebben afgemaakt. Bewaar je code of de link van deze "
        "pagina. Daarmee kun je later je vergelijking bekijken.",
        "Your comparison with other klantmanagers is not available yet. It will be once at "
        "least %(min)s people have finished the questionnaire. Keep your code or the link of "
        "this page. With it you can see your comparison later.",
    ),
    "mirror_preparing": (
        "Je vergelijking met andere klantmanagers wordt nu klaargezet. Dat duurt hooguit een "
        "paar minuten. Bewaar je code of de link hieronder. Daarmee kun je je vergelijking "
        "straks bekijken.",
        "Your comparison with other klantmanagers is being prepared. This takes a few minutes "
        "at most. Keep your code or the link below. With it you can see your comparison soon.",
    ),
    "mirror_link": ("Je vergelijking later bekijken:", "See your comparison later:"),
    "mirror_private": (
        "Alleen jij ziet jouw eigen scores. Er staat niets op deze pagina waaraan anderen jou "
        "kunnen herkennen.",
        "Only you see your own scores. Nothing on this page lets others recognise you.",
    ),
    "mirror_print": (
        "Je kunt deze pagina printen of als pdf bewaren.",
        "You can print this page or save it as PDF.",
    ),
    "block_professional_action": ("Jouw professioneel handelen", "Your professional action"),
    "block_hrm": (
        "Steun van je organisatie (HR-beleid)",
        "Support from your organisation (HR practices)",
    ),
    "all_professional_action": ("Professioneel handelen", "Professional action"),
    "all_hrm": (
        "Steun van de organisatie (HR-beleid)",
        "Support from the organisation (HR practices)",
    ),
    "block_working_conditions": ("Werkomstandigheden", "Working conditions"),
    "block_outcome": ("Resultaten", "Results"),
    "col_topic": ("Onderwerp", "Topic"),
    "col_you": ("Jouw score", "Your score"),
    "col_median": ("Mediaan", "Median"),
    "col_iqr": ("Middelste helft", "Middle half"),
    "col_org": ("Jouw organisatie", "Your organisation"),
    "col_others": ("Alle andere organisaties", "All other organisations"),
    "no_score": ("geen score", "no score"),
    "too_few": ("te weinig antwoorden", "too few answers"),
    "legend_you": ("stip = jouw score", "dot = your score"),
    "legend_median": ("streepje = mediaan", "tick = median"),
    "legend_iqr": ("balk = middelste helft van alle scores", "bar = middle half of all scores"),
    "legend_org": (
        "dichte balk en ruit = jouw organisatie",
        "filled bar and diamond = your organisation",
    ),
    "legend_others": (
        "open balk en streep = alle andere organisaties",
        "open bar and tick = all other organisations",
    ),
    "plot_alt": (
        "Grafiek; dezelfde cijfers staan in de tabel eronder.",
        "Chart; the same figures are in the table below it.",
    ),
    # Public summary
    "summary_heading": ("Resultaten tot nu toe", "Results so far"),
    "summary_n": (
        "%(n)s klantmanagers hebben de vragenlijst helemaal ingevuld.",
        "%(n)s klantmanagers have filled in the whole questionnaire.",
    ),
    "summary_too_few": (
        "Er zijn nog te weinig antwoorden om resultaten te laten zien.",
        "There are not enough answers yet to show results.",
    ),
    "by_type": ("Soort organisatie", "Type of organisation"),
    "by_size": ("Grootte van de gemeente", "Size of the municipality"),
    "group": ("Groep", "Group"),
    "respondents": ("Aantal", "Number"),
    "not_answered": ("Niet ingevuld of weet niet", "Not answered or don't know"),
    "scales_heading": ("Scores per onderwerp", "Scores per topic"),
    "scales_intro": (
        "Per onderwerp de middelste score (mediaan) en de middelste helft van de scores, op "
        "een schaal van 1 (laag) tot 5 (hoog).",
        "Per topic the middle score (median) and the middle half of the scores, on a scale "
        "from 1 (low) to 5 (high).",
    ),
    "findings_heading": ("Belangrijkste uitkomsten", "Main findings"),
    "findings_later": (
        "De analyse is nog niet gedaan. De belangrijkste uitkomsten komen hier als het "
        "onderzoek is geanalyseerd.",
        "The analysis has not been done yet. The main findings will appear here once the "
        "study has been analysed.",
    ),
    "findings_caution": (
        "Deze uitkomsten komen uit de laatste analyse van de antwoorden. Ze laten zien wat "
        "samengaat, niet wat de oorzaak is. β is de sterkte van de samenhang (van −1 tot 1). "
        "95%-BI is de marge: ligt 0 daarbuiten, dan is de samenhang duidelijk.",
        "These findings come from the latest analysis of the answers. They show what goes "
        "together, not what causes what. β is the strength of the association (from −1 to 1). "
        "95% CI is the margin: when 0 lies outside it, the association is clear.",
    ),
    "themes_heading": ("Wat klantmanagers zelf zeggen", "What klantmanagers say themselves"),
    "themes_intro": (
        "We tellen hoe vaak een onderwerp genoemd wordt in de open antwoorden. De antwoorden "
        "zelf laten we niet zien.",
        "We count how often a topic is mentioned in the open answers. We do not show the "
        "answers themselves.",
    ),
    "answered_q": ("%(n)s mensen gaven een antwoord.", "%(n)s people gave an answer."),
    "answered_few": (
        "Te weinig mensen gaven een antwoord om onderwerpen te tellen.",
        "Too few people gave an answer to count topics.",
    ),
    "theme": ("Onderwerp", "Topic"),
    "mentions": ("Genoemd door", "Mentioned by"),
    # Benchmarks
    "bench_title": ("Benchmark voor organisatie %(code)s", "Benchmark for organisation %(code)s"),
    "bench_intro": (
        "Dit rapport vergelijkt de klantmanagers van jouw organisatie met de klantmanagers "
        "van alle andere organisaties in het onderzoek.",
        "This report compares the klantmanagers of your organisation with the klantmanagers of "
        "all other organisations in the study.",
    ),
    "bench_basis": (
        "Jouw organisatie: %(org)s klantmanagers. Andere organisaties: %(others)s klantmanagers.",
        "Your organisation: %(org)s klantmanagers. Other organisations: %(others)s klantmanagers.",
    ),
    "bench_bands": (
        "Aantallen staan in klassen, zodat niemand kleine groepen kan uitrekenen door "
        "rapporten te vergelijken.",
        "Numbers are given in bands, so that nobody can work out small groups by comparing "
        "reports.",
    ),
    "bench_caseload": ("Caseload (aantal klanten)", "Caseload (number of clients)"),
    "bench_generated": ("Gemaakt op %(date)s.", "Made on %(date)s."),
    "bench_scale_note": (
        "Scores van 1 (laag) tot 5 (hoog). Bij werkdruk betekent hoger: meer werkdruk.",
        "Scores from 1 (low) to 5 (high). For workload, higher means more workload.",
    ),
}

#: Plain-language explanations of the klantmanager study's scales (B1 Dutch, with English).
SCALE_EXPLANATIONS: dict[str, tuple[str, str]] = {
    "kv": (
        "Hoe vaak je nieuwe kennis opdoet, bijvoorbeeld door te lezen of een cursus te volgen.",
        "How often you gain new knowledge, for example by reading or taking a course.",
    ),
    "kb": (
        "Hoe vaak je kennis over wat werkt gebruikt in je werk met klanten.",
        "How often you use knowledge of what works in your work with clients.",
    ),
    "kd": (
        "Hoe vaak je wat je weet deelt met collega's.",
        "How often you share what you know with colleagues.",
    ),
    "inn": (
        "Hoe vaak je nieuwe manieren bedenkt of uitprobeert om klanten te helpen.",
        "How often you think of or try out new ways to help clients.",
    ),
    "kg": (
        "Hoe goed je aansluit bij wat de klant wil en nodig heeft.",
        "How well you connect with what the client wants and needs.",
    ),
    "ver": (
        "Hoe vaak je uitlegt en vastlegt waarom je een besluit neemt.",
        "How often you explain and record why you take a decision.",
    ),
    "sam_in": (
        "Hoe vaak je samenwerkt met collega's in je eigen organisatie.",
        "How often you work together with colleagues in your own organisation.",
    ),
    "sam_ex": (
        "Hoe vaak je samenwerkt met partners buiten je organisatie, zoals zorg en werkgevers.",
        "How often you work with partners outside your organisation, such as care and employers.",
    ),
    "mw": (
        "Hoe vaak je volgens een plan en vaste stappen werkt.",
        "How often you work according to a plan and fixed steps.",
    ),
    "bel": (
        "Hoeveel gewicht je geeft aan de belangen van klanten, werkgevers, beleid en anderen.",
        "How much weight you give to the interests of clients, employers, policy and others.",
    ),
    "sch": (
        "Hoeveel kansen je krijgt om scholing te volgen.",
        "How many chances you get to take training.",
    ),
    "co": (
        "Hoeveel tijd je krijgt voor intervisie en overleg met collega's.",
        "How much time you get for peer consultation with colleagues.",
    ),
    "pa": (
        "Hoe sterk je werk gestuurd wordt door afspraken en targets.",
        "How strongly your work is steered by agreements and targets.",
    ),
    "beo": (
        "Hoe nuttig je gesprekken over je werk en je ontwikkeling zijn.",
        "How useful your conversations about your work and development are.",
    ),
    "br": (
        "Hoeveel ruimte je hebt om zelf te beslissen wat je met een klant doet.",
        "How much room you have to decide yourself what you do with a client.",
    ),
    "wd": (
        "Hoe zwaar je je werk vindt. Hoger betekent: meer werkdruk.",
        "How heavy you find your work. Higher means: more workload.",
    ),
    "pr": (
        "Hoe goed je vindt dat je je werk doet: doelen halen, efficiënt en eerlijk werken.",
        "How well you think you do your work: reaching goals, working efficiently and fairly.",
    ),
}


def t(key: str, language: str, **params: Any) -> str:
    """The text `key` in `language` (Dutch for any language other than English)."""
    nl, en = _TEXTS[key]
    text = en if language == "en" else nl
    return text % params if params else text


def explanation(study: Study, scale: Scale, language: str) -> str:
    """A plain explanation of a scale: the study's own description when it has one and no
    plain text is known here, else the text above."""
    known = SCALE_EXPLANATIONS.get(scale.id) if study.id == "klantmanagers" else None
    if known is not None:
        return known[1] if language == "en" else known[0]
    return text_in(scale.description, language, study.default_language)


def people(study: Study, language: str) -> str:
    """What the texts call the respondents of `study`."""
    if study.id == "klantmanagers":
        return "klantmanagers"
    return "participants" if language == "en" else "deelnemers"


def scale_label(study: Study, scale: Scale, language: str) -> str:
    return text_in(scale.label, language, study.default_language)


def number(value: float, language: str, digits: int = 1) -> str:
    """A number as written in `language` (decimal comma in Dutch)."""
    text = f"{value:.{digits}f}"
    return text if language == "en" else text.replace(".", ",")


def count_text(value: int | None, language: str) -> str:
    """A published count, or "not shown" for a suppressed one. Primary and complementary
    suppression look the same, so a reader cannot tell which hidden cell is the small one."""
    return str(value) if value is not None else t("hidden", language)
