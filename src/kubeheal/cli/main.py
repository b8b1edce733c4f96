"""The `kubeheal` command line.

Sub-commands are grouped per concern (`twin`, `demo`, ...). Settings are built here once and
passed down; nothing below the CLI reads the environment.
"""

from __future__ import annotations

import typer

from kubeheal import __version__
from kubeheal.cli.anomaly import anomaly_app
from kubeheal.cli.chaos import chaos_app
from kubeheal.cli.generate import generate_app
from kubeheal.cli.incident import incident_app
from kubeheal.cli.operator import register as register_operator_commands
from kubeheal.cli.rightsize import rightsize_app
from kubeheal.cli.slo import slo_app
from kubeheal.cli.twin import twin_app
from kubeheal.cli.up import register as register_up_command

app = typer.Typer(
    name="kubeheal",
    help="kubeheal: a self-healing operator for Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(twin_app, name="twin")
app.add_typer(generate_app, name="generate")
app.add_typer(anomaly_app, name="anomaly")
app.add_typer(incident_app, name="incident")
app.add_typer(rightsize_app, name="rightsize")
app.add_typer(slo_app, name="slo")
app.add_typer(chaos_app, name="chaos")
register_operator_commands(app)
register_up_command(app)


@app.command()
def version() -> None:
    """Print kubeheal's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
