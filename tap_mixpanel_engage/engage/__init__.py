"""The fetch engine, free of the Singer SDK: HTTP and retries, pacing, the ordered page window,
the export with its sessions and saved position, and the records built from each page."""
