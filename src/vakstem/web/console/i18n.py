"""Interface texts of the console: its own Babel catalogues under `web/console/locales/`,
falling back to the respondent catalogues for what the shared base layout says."""

from __future__ import annotations

from pathlib import Path

from vakstem.web.i18n import Catalogues

CONSOLE_LOCALE_DIR = Path(__file__).parent / "locales"


class ConsoleCatalogues(Catalogues):
    """The console's messages first, then the respondent interface's (same languages)."""

    def __init__(self, fallback: Catalogues, directory: Path = CONSOLE_LOCALE_DIR) -> None:
        super().__init__(
            directory=directory, languages=fallback.languages, default=fallback.default
        )
        self.fallback = fallback

    def gettext(self, language: str, message: str) -> str:
        own = super().gettext(language, message)
        if own != message:
            return own
        return self.fallback.gettext(language, message)
