"""Vakstem's structural equation modelling engine: lavaan model syntax, ML/MLR/FIML estimation,
fit measures and standardised solutions on numpy/scipy, with lavaan's names for every number."""
