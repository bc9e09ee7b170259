"""`sendai-server seed` and `demo-curl`: demo data, and the commands a newcomer pastes."""

from __future__ import annotations

import importlib.resources

import click

from ..config import Config
from ..services import demo
from .address import public_base_url
from .base import CommandFailure, domain_errors, emit
from .database import command_uow


@click.command(help="Create demo data: a fresh team, keys, and tasks in every state.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON document.")
@domain_errors
def seed(as_json: bool) -> None:
    with command_uow() as uow:
        document = demo.seed_demo(uow)
    human = (
        f"team {document['team_id']}, project {document['project_id']}\n"
        f"edit key: {document['keys']['edit']}\n"
        + "\n".join(f"{status}: {', '.join(ids)}" for status, ids in document["tasks"].items())
    )
    emit(as_json, document, human)


@click.command(help="Seed an empty database, mint a demo key, print a curl that discards a task.")
@click.option("--base-url", help="The server's address in the printed commands (default: "
                                   "SENDAI_PUBLIC_URL, else http:// and SENDAI_BIND, "
                                   "http://127.0.0.1:8000 unless set).")
@domain_errors
def demo_curl(base_url: str | None) -> None:
    config = Config.from_env()
    base_url = base_url or public_base_url(config)
    if base_url is None:
        raise CommandFailure(
            f"the server listens on {config.bind}, which no http:// address names: set "
            "SENDAI_PUBLIC_URL (or pass --base-url) to the address clients reach it at"
        )
    with command_uow() as uow:
        if demo.is_empty(uow):
            demo.seed_demo(uow)
            click.echo("Seeded demo data.", err=True)
        document = demo.demo_curl(uow, base_url.rstrip("/"))
        sample = importlib.resources.files("sendai_server") / "samples" / "invoice.pdf"
        uploading = demo.upload_demo_curl(uow, base_url.rstrip("/"), str(sample))
    click.echo(f"Demo API key (shown once): {document['key']}")
    click.echo("Discard a demo task with:")
    click.echo(f"  {document['curl']}")
    click.echo("Upload a sample invoice into a project whose pipeline runs (key shown once):")
    click.echo(f"  {uploading['curl']}")
    click.echo("then, after a second, see its task in REVIEWING with its total:")
    click.echo(f"  curl '{uploading['task_url']}' -H 'Authorization: Bearer {uploading['key']}'")
    if config.inspector:
        click.echo(f"Or look at it all in a browser: {base_url.rstrip('/')}/inspect "
                   "(sign in with either key above)")

