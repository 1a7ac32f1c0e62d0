"""Registers every built-in benchmark split (filled in by the dataset modules)."""
