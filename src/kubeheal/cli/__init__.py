"""Command line entry point (typer): `kubeheal ...`."""
