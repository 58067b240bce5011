"""The read side: what pages show as data (`analytics`, `page_data`), the projection, `as_of`, the
charts. It knows nothing of how data arrives (the ingest room)."""
