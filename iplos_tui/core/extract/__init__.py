"""The extract: IPLOS-uttrekk v1 read streaming, validated against the minimum requirements."""

# Here rather than in report.py, so that the CLI's parser shows it without loading the rules.
DEFAULT_PER_RULE = 10
