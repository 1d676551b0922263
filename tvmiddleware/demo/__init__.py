"""The demo: a simulated operator's week, ingested over HTTP, then every command."""
