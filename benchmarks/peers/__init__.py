"""Public peers (tap-mixpanel 1.8.0, target-duckdb 0.8.0) run in their own venvs for comparison."""
