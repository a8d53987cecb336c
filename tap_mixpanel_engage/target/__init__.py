"""The Singer target ``target-mixpanel-duckdb``: read messages, check records, drive one sink."""
