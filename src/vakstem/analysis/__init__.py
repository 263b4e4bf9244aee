"""Analysis: scoring, reliability, the lavaan-syntax model engine, multilevel models, reports."""
