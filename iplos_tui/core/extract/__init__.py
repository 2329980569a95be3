"""The extract: IPLOS-uttrekk v1 read streaming, validated against the minimum requirements."""
