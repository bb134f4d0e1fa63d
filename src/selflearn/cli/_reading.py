"""Commands that read the store and write no event: status, timeline, flags."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from selflearn.cli._common import (
    cli_errors,
    echo_json,
    json_option,
    open_loop,
    parse_as_of,
    store_option,
)


@click.command()
@store_option
@json_option
@click.option(
    "--as-of",
    "as_of",
    metavar="ISO-TIME",
    callback=parse_as_of,
    help="The report as it was then (replays the log; a time without offset is UTC).",
)
def status(store: str, as_json: bool, as_of: datetime | None) -> None:
    """Print the status report: rollout, proposal funnel, outcome quality, policy state,
    execution guardrail, opportunity windows and the store. Writes no event (catching the
    views up may write their tables)."""
    from selflearn.projections.service import status_of

    with cli_errors():
        report = status_of(store, as_of=as_of)
    if as_json:
        echo_json(report.to_dict())
    else:
        from selflearn.render import print_status

        print_status(report)
    for warning in report.store.warnings:  # views that had to be rebuilt, …
        click.echo(f"warning: {warning}", err=True)


@click.command()
@click.argument("proposal_id")
@store_option
@json_option
def timeline(proposal_id: str, store: str, as_json: bool) -> None:
    """Print every event of a proposal and its runs, in order, with their reasons."""
    with cli_errors(), open_loop(store) as loop:
        entries = loop.timeline(proposal_id)
    if as_json:
        echo_json([entry.to_dict() for entry in entries])
    else:
        from selflearn.render import print_timeline

        print_timeline(entries)


@click.command()
@store_option
@json_option
def flags(store: str, as_json: bool) -> None:
    """Print the effective flags of this environment, where each comes from (environment,
    default, or an operator override recorded in the store) and the rollout stage; exit 1
    on a bad value."""
    from selflearn.config import Flags, flag_sources
    from selflearn.store import StoreURL
    from selflearn.values import to_plain

    with cli_errors():
        env_flags = Flags.from_env()
        parsed = StoreURL.parse(store)
        overrides: dict[str, Any] = {}
        if parsed.kind == "sqlite" and parsed.path is not None and not parsed.path.exists():
            click.echo(f"note: no store at {parsed.redacted}: no overrides applied", err=True)
        else:
            from selflearn.session import Session

            with Session.open(store, create=False) as session, session.store_errors():
                overrides = dict(session.controls(session.now()).disabled)
        effective = env_flags.with_overrides(overrides)
    rows = {
        name: (
            getattr(effective, name),
            "override" if getattr(env_flags, name) != getattr(effective, name) else source,
        )
        for name, source in flag_sources().items()
    }
    if as_json:
        echo_json(
            {
                "stage": effective.stage,
                "flags": {
                    name: {"variable": name.upper(), "value": to_plain(value), "source": source}
                    for name, (value, source) in rows.items()
                },
                "overrides": to_plain(overrides),
            }
        )
    else:
        from selflearn.render import print_flags

        print_flags(effective.stage, rows, overrides)


COMMANDS = (status, timeline, flags)
