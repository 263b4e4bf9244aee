"""Simulated responses with known true values, for tests, the demo and benchmarks.

`draw_population` is the pure generator (a data frame, no database); `simulate` submits such
respondents page by page through the respondent service, as real respondents would, and returns
the true parameter values the data were drawn from (`true_values`).
"""

from vakstem.simulate.api import (
    SimulationResult,
    population_file,
    population_for,
    shipped_study_file,
    simulate,
    simulate_demo,
)
from vakstem.simulate.draw import SimulationError, draw_population
from vakstem.simulate.population import Population, PopulationError, load_population
from vakstem.simulate.truth import true_values

__all__ = [
    "Population",
    "PopulationError",
    "SimulationError",
    "SimulationResult",
    "draw_population",
    "load_population",
    "population_file",
    "population_for",
    "shipped_study_file",
    "simulate",
    "simulate_demo",
    "true_values",
]
