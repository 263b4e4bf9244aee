"""Hardening tests: crash safety, concurrency, web security, privacy, fuzzing, backups."""
