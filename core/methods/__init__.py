"""One module per training method: loop (S1), trainer (S2), probe (S3)."""
