"""Exports: the tidy response table and files for SPSS, Stata, R and Excel, and the codebook."""
