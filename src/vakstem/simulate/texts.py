"""Open answers for simulated respondents: short sentences of our own, in the respondent's
language, strung together to a drawn length. They name no people or places, like the open
questions ask, so the demo and tests can show open answers without identifying anyone."""

from __future__ import annotations

import numpy as np

_SENTENCES: dict[str, dict[str, tuple[str, ...]]] = {
    "open_nodig": {
        "nl": (
            "Meer tijd per klant.",
            "Een kleinere caseload, zodat ik klanten echt kan helpen.",
            "Ruimte om zelf te beslissen wat een klant nodig heeft.",
            "Goede scholing over gesprekstechnieken en over de regels.",
            "Vaste tijd voor intervisie met collega's.",
            "Minder administratie en systemen die beter werken.",
            "Een leidinggevende die achter mijn keuzes staat.",
            "Korte lijnen met werkgevers en zorgpartners.",
            "Duidelijke regels, maar ook ruimte om ervan af te wijken.",
            "Informatie over wat echt werkt bij deze klanten.",
        ),
        "en": (
            "More time per client.",
            "A smaller caseload, so I can really help clients.",
            "Room to decide for myself what a client needs.",
            "Good training in conversation skills and in the rules.",
            "Set time for peer supervision with colleagues.",
            "Less paperwork and systems that work better.",
            "A manager who backs my choices.",
            "Short lines to employers and care partners.",
        ),
    },
    "open_organisatie": {
        "nl": (
            "Minder sturen op aantallen en meer op wat de klant nodig heeft.",
            "Klantmanagers meer vertrouwen geven.",
            "Investeren in opleiding, ook voor ervaren collega's.",
            "Zorgen dat de caseload haalbaar blijft.",
            "Beter luisteren naar de mensen die het werk doen.",
            "Minder vaak van werkwijze wisselen.",
            "Samenwerking met andere afdelingen makkelijker maken.",
            "Tijd vrijmaken om van elkaar te leren.",
        ),
        "en": (
            "Steer less on numbers and more on what the client needs.",
            "Trust klantmanagers more.",
            "Invest in training, also for experienced colleagues.",
            "Make sure the caseload stays manageable.",
            "Listen better to the people who do the work.",
            "Change the way of working less often.",
        ),
    },
    "open_overig": {
        "nl": (
            "Goed dat dit onderzocht wordt.",
            "Sommige vragen waren lastig omdat het per klant verschilt.",
            "Ik ben benieuwd naar de uitkomsten.",
            "Het werk is mooi, maar de druk is hoog.",
            "Geen verdere opmerkingen.",
        ),
        "en": (
            "Good that this is being studied.",
            "Some questions were hard because it differs per client.",
            "I am curious about the results.",
            "The work is rewarding, but the pressure is high.",
        ),
    },
}
_GENERIC = {
    "nl": ("Meer tijd en ruimte voor goed werk.", "Meer steun van de organisatie."),
    "en": ("More time and room for good work.", "More support from the organisation."),
}


def open_answer(rng: np.random.Generator, question: str, language: str, length: int) -> str:
    """Sentences for `question` in `language` (Dutch if unknown) until about `length`
    characters, cut at a word boundary; always at least one whole sentence."""
    bank = _SENTENCES.get(question, {})
    sentences = bank.get(language) or bank.get("nl") or _GENERIC.get(language, _GENERIC["nl"])
    parts: list[str] = []
    size = 0
    while size < length:
        sentence = sentences[int(rng.integers(len(sentences)))]
        parts.append(sentence)
        size += len(sentence) + 1
    text = " ".join(parts)
    if len(text) > length and len(parts) > 1:
        cut = text.rfind(" ", len(parts[0]), length + 1)
        text = text[:cut] if cut > 0 else parts[0]
    return text
