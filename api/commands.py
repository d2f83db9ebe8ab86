"""Flask CLI commands (`flask --app wsgi ...`)."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app


@click.command("create-db")
def create_db_command() -> None:
    """Create the configured database if it does not exist yet (then run `flask db upgrade`)."""
    url = sa.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        return
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
        )
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
            click.echo(f"created database {url.database}")
    admin.dispose()


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_db_command)
