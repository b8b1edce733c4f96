"""Settings: one object, nested per concern, built once by the CLI."""
