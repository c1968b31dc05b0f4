"""Output formats: text, json (ruff field names), sarif 2.1.0, github annotations."""
