"""The `kubeheal` command line.

Sub-commands are grouped per concern (`twin`, `demo`, ...). Settings are built here once and
passed down; nothing below the CLI reads the environment.
"""

from __future__ import annotations

import typer

from kubeheal import __version__
from kubeheal.cli.operator import register as register_operator_commands
from kubeheal.cli.twin import twin_app

app = typer.Typer(
    name="kubeheal",
    help="kubeheal: a self-healing operator for Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(twin_app, name="twin")
register_operator_commands(app)


@app.command()
def version() -> None:
    """Print kubeheal's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
