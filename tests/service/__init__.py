"""Tests of the respondent domain service and answer validation."""
