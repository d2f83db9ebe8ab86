"""Flask CLI commands of the API package (`flask --app wsgi ...`).

The knowledge-base commands (`flask rag ...`) live in `workers/cli.py`: they load
models, which the API package never imports.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from api.services import backups, housekeeping


@click.command("create-db")
@with_appcontext
def create_db_command() -> None:
    """Create the configured database if it does not exist yet (then run `flask db upgrade`)."""
    url = sa.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.scalar(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
        )
        if not exists:
            connection.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
            click.echo(f"created database {url.database}")
    admin.dispose()


@click.command("welcome")
@with_appcontext
def welcome_command() -> None:
    """Where everything is, and a quickstart to paste (printed by `make run`)."""
    config = current_app.config
    base = config["PUBLIC_BASE_URL"]
    mail = config["MAIL_SERVER"] or f"{config['MAIL_OUTBOX_DIR']}/*.eml (the link is in the worker log too)"
    flower = os.environ.get("FLOWER_PORT", "5555")
    click.echo(WELCOME.format(base=base, mail=mail, flower=flower))


WELCOME = """
  Chat     {base}/            (the web page: sign up, confirm, ask, upload)
  API      {base}/api/v1      Swagger UI {base}/docs      readiness {base}/readyz
  Flower   http://localhost:{flower}  (user and password: FLOWER_BASIC_AUTH in .env)
  Email    goes to {mail}

  Quickstart (another terminal):
    B={base}/api/v1
    curl -s -XPOST $B/auth/signup -H 'Content-Type: application/json' \\
      -d '{{"username":"ada","email":"ada@example.com","password":"correct horse"}}'
    # open the link in the verification email, then:
    curl -s -XPOST $B/auth/login -H 'Content-Type: application/json' \\
      -d '{{"login":"ada","password":"correct horse"}}'      # copy access_token:
    TOKEN=...
    curl -s -XPOST "$B/chat?wait=30" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
      -d '{{"message":"How long is the return window?"}}'

  Ctrl-C (or `make stop` elsewhere) stops every process.
"""


@click.group("maintenance", cls=AppGroup)
def maintenance_group() -> None:
    """Housekeeping jobs on demand (beat runs them on its schedule), and restoring a backup."""


@maintenance_group.command("run")
@click.argument("job", type=click.Choice(sorted(housekeeping.JOBS)))
def maintenance_run(job: str) -> None:
    """Run one housekeeping job now (under the same lock as beat's runs)."""
    click.echo(json.dumps(housekeeping.run(job)))


@maintenance_group.command("restore")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def maintenance_restore(backup: Path) -> None:
    """Restore accounts, sessions and messages from BACKUP into a database that has none."""
    try:
        counts = backups.restore(backup)
    except backups.RestoreRefusedError as error:
        raise click.ClickException(f"{error}; restore into an empty database") from error
    click.echo(json.dumps(counts))


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_db_command)
    app.cli.add_command(welcome_command)
    app.cli.add_command(maintenance_group)
