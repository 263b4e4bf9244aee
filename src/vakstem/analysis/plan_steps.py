"""The analysis plan's steps and default seed, in a module of their own so that the command
line can name them without importing the plan (pandas, statsmodels, the SEM engine)."""

from __future__ import annotations

#: Seed of the bootstrap when neither the plan nor the caller gives one.
DEFAULT_SEED = 20240601

#: The plan's steps, in the order they run.
STEPS = (
    "quality",
    "scores",
    "reliability",
    "measurement",
    "structural",
    "multilevel",
    "invariance",
    "open_answers",
)
