"""The operator's commands, each recorded as an event: disable, enable, approve, reject,
rollback."""

from __future__ import annotations

import click

from selflearn.cli._common import (
    LazyChoice,
    cli_errors,
    echo_json,
    json_option,
    open_loop,
    store_option,
)


def _capabilities() -> tuple[str, ...]:
    from selflearn.config import CAPABILITIES

    return CAPABILITIES


capability_argument = click.argument("capability", type=LazyChoice(_capabilities))
reason_option = click.option("--reason", required=True, help="Why (recorded with the event).")


def _override(capability: str, reason: str, store: str, *, disable: bool) -> None:
    with cli_errors(), open_loop(store) as loop:
        if disable:
            loop.disable(capability, reason=reason)
        else:
            loop.enable(capability, reason=reason)
    click.echo(
        f"{capability}: disabled from the next cycle on"
        if disable
        else f"{capability}: override lifted; the flags decide again from the next cycle on"
    )


@click.command()
@capability_argument
@reason_option
@store_option
def disable(capability: str, reason: str, store: str) -> None:
    """Switch a capability off (executor, bandit, real-apply, normal-mode) from the next
    cycle on, whatever the environment says."""
    _override(capability, reason, store, disable=True)


@click.command()
@capability_argument
@reason_option
@store_option
def enable(capability: str, reason: str, store: str) -> None:
    """Lift an operator override: the capability is on again only if the flags say so."""
    _override(capability, reason, store, disable=False)


@click.command()
@click.argument("proposal_id")
@click.option("--reason", default="approved by operator", show_default=True, help="Why.")
@store_option
def approve(proposal_id: str, reason: str, store: str) -> None:
    """Approve a pending proposal (any risk level) as the operator."""
    from selflearn.config import Flags

    with cli_errors():
        flags = Flags.from_env()
        with open_loop(store, flags) as loop:
            loop.approve(proposal_id, reason=reason)
    click.echo(f"approved {proposal_id}")


@click.command()
@click.argument("proposal_id")
@click.option("--reason", default="rejected by operator", show_default=True, help="Why.")
@store_option
def reject(proposal_id: str, reason: str, store: str) -> None:
    """Reject a pending or approved proposal as the operator."""
    with cli_errors(), open_loop(store) as loop:
        loop.reject(proposal_id, reason=reason)
    click.echo(f"rejected {proposal_id}")


@click.command()
@click.argument("run_id")
@click.option("--reason", required=True, help="Why the run is rolled back (recorded).")
@store_option
@json_option
def rollback(run_id: str, reason: str, store: str, as_json: bool) -> None:
    """Undo a run's real apply: restore its files from the backups, verified by hash."""
    with cli_errors(), open_loop(store) as loop:
        report = loop.rollback(run_id, reason=reason)
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(f"Rolled back run {report.run_id} (proposal {report.proposal_id}).")
    for entry in report.files:
        action = "restored" if entry["path"] in report.restored else "already at its pre-image"
        click.echo(f"  {entry['path']}: {action} (sha256 {entry['restored_sha256']})")


COMMANDS = (disable, enable, approve, reject, rollback)
