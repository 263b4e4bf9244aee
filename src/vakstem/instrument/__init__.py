"""The questionnaire: its format (schema), expression language, loaders and validation."""
