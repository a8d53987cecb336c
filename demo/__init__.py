"""The `make demo` orchestration and the Meltano helpers the end-to-end tests share."""
