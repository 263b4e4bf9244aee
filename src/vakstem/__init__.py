"""Vakstem: survey research among professionals, from questionnaire to analysis plan."""

__version__ = "0.1.0"
