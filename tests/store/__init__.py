"""Tests of storage: migrations and the study repository."""
