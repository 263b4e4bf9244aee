"""The web layer: respondent pages, JSON API and console. Nothing below web/ imports it."""
