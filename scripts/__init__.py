"""Maintenance scripts (run as modules: ``python -m scripts.update_readme``)."""
