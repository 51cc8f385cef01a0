"""Faults the lab can inject (processor-down, db-down, ...) and clear."""
