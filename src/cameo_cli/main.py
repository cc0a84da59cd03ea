"""The single `cameo` command line: queries, plus the engine and offline-stack command groups."""

from __future__ import annotations

import typer

from cameo_cli import bulk, export, query, retention
from cameo_engine.cli import app as engine_app
from cameo_stack.cli import register as register_stack

app = typer.Typer(
    name="cameo",
    help="Which celebrities appear in your videos, when, and for how long.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
query.register(app)
bulk.register(app)
export.register(app)
retention.register(app)
app.add_typer(engine_app, name="engine", help="The local Rekognition-compatible engine.")
register_stack(app)

if __name__ == "__main__":
    app()
