"""Results back to respondents and organisations, with small-group suppression."""
