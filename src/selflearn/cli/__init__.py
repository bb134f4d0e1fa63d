"""The `selflearn` command line: one click group, one service call and its rendering per command."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from selflearn.config import CAPABILITIES, DEFAULT_STORE, Flags, flag_sources
from selflearn.exceptions import SelflearnError
from selflearn.projections import VIEW_NAMES
from selflearn.store import StoreURL

if TYPE_CHECKING:
    from selflearn.loop import LearningLoop

DEMO_STORE = "sqlite:///data/demo.db"


class _Stderr(logging.Handler):
    """Writes each record to whatever `sys.stderr` is when it is emitted."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def configure_logging(verbose: bool) -> None:
    """selflearn's logs (stdlib logger `selflearn`) go to stderr: warnings, or with `-v`
    everything from info up; stdout stays for output."""
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("selflearn")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO if verbose else logging.WARNING)


def store_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--store URL`, defaulting to $SELFLEARN_STORE, else the default SQLite file."""
    return click.option(
        "--store",
        envvar="SELFLEARN_STORE",
        default=DEFAULT_STORE,
        show_default=True,
        metavar="URL",
        help="The event store (sqlite:///PATH, postgresql://USER@HOST:PORT/DB, memory://).",
    )(command)


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--json`: print only JSON on stdout."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON only, on stdout.")(
        command
    )


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """selflearn's errors become a message on stderr and exit code 1, without a traceback."""
    try:
        yield
    except SelflearnError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what the loop does (on stderr).")
@click.version_option(package_name="selflearn")
def main(verbose: bool) -> None:
    """selflearn: an agent's self-improvement loop under guardrails."""
    configure_logging(verbose)


def open_loop(store: str, flags: Flags | None = None) -> LearningLoop:
    """A loop on an existing store: never creates one, never writes on start-up (no v1 import)."""
    from selflearn.loop import LearningLoop

    return LearningLoop(store, flags=flags or Flags(), _open_existing=True)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def parse_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time; one without an offset is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 time (for example 2026-01-05T12:00:00Z)"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@main.command()
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
    from selflearn.render import print_status

    with cli_errors(), open_loop(store) as loop:
        report = loop.status(as_of=as_of)
    if as_json:
        echo_json(report.to_dict())
    else:
        print_status(report)
    for warning in report.store.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command()
@store_option
@click.option(
    "--view",
    "names",
    multiple=True,
    type=click.Choice(VIEW_NAMES),
    help="Rebuild only this view (repeatable); default: every view.",
)
def rebuild(store: str, names: tuple[str, ...]) -> None:
    """Drop the status views and replay the whole log into them, with a progress bar on
    stderr; then print how many events per second were folded."""
    from rich.console import Console
    from rich.progress import Progress

    with (
        cli_errors(),
        open_loop(store) as loop,
        Progress(console=Console(stderr=True), transient=True) as bar,
    ):
        task = bar.add_task("rebuilding views", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = loop.rebuild_views(progress, views=names or None)
    click.echo(
        f"rebuilt {', '.join(report.views)}: {report.events} events in "
        f"{report.seconds:.2f} s ({report.events_per_second:,.0f} events/s)"
    )


@main.command()
@click.argument("proposal_id")
@store_option
@json_option
def timeline(proposal_id: str, store: str, as_json: bool) -> None:
    """Print every event of a proposal and its runs, in order, with their reasons."""
    from selflearn.render import print_timeline

    with cli_errors(), open_loop(store) as loop:
        entries = loop.timeline(proposal_id)
    if as_json:
        echo_json([entry.to_dict() for entry in entries])
    else:
        print_timeline(entries)


@main.command()
@store_option
@json_option
def flags(store: str, as_json: bool) -> None:
    """Print the effective flags of this environment, where each comes from (environment,
    default, or an operator override recorded in the store) and the rollout stage; exit 1
    on a bad value."""
    from selflearn.render import print_flags
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
    sources = flag_sources()
    rows = {
        name: (
            getattr(effective, name),
            "override" if getattr(env_flags, name) != getattr(effective, name) else source,
        )
        for name, source in sources.items()
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
        print_flags(effective.stage, rows, overrides)


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


capability_argument = click.argument("capability", type=click.Choice(CAPABILITIES))
reason_option = click.option("--reason", required=True, help="Why (recorded with the event).")


@main.command()
@capability_argument
@reason_option
@store_option
def disable(capability: str, reason: str, store: str) -> None:
    """Switch a capability off (executor, bandit, real-apply, normal-mode) from the next
    cycle on, whatever the environment says."""
    _override(capability, reason, store, disable=True)


@main.command()
@capability_argument
@reason_option
@store_option
def enable(capability: str, reason: str, store: str) -> None:
    """Lift an operator override: the capability is on again only if the flags say so."""
    _override(capability, reason, store, disable=False)


@main.command()
@click.argument("proposal_id")
@click.option("--reason", default="approved by operator", show_default=True, help="Why.")
@store_option
def approve(proposal_id: str, reason: str, store: str) -> None:
    """Approve a pending proposal (any risk level) as the operator."""
    with cli_errors(), open_loop(store, Flags.from_env()) as loop:
        loop.approve(proposal_id, reason=reason)
    click.echo(f"approved {proposal_id}")


@main.command()
@click.argument("proposal_id")
@click.option("--reason", default="rejected by operator", show_default=True, help="Why.")
@store_option
def reject(proposal_id: str, reason: str, store: str) -> None:
    """Reject a pending or approved proposal as the operator."""
    with cli_errors(), open_loop(store) as loop:
        loop.reject(proposal_id, reason=reason)
    click.echo(f"rejected {proposal_id}")


@main.command()
@click.option(
    "--days", type=click.IntRange(1, 60), default=7, show_default=True, help="Simulated days."
)
@click.option(
    "--seed", type=int, default=3, show_default=True, help="Seed of the simulation and the bandit."
)
@click.option(
    "--store",
    default=DEMO_STORE,
    show_default=True,
    help="Where the demo records its events (an empty store); a SQLite file here is replaced.",
)
@click.option(
    "--html",
    "html",
    metavar="PATH",
    help="Where to write the HTML report [default: beside a SQLite store, else data/demo.html].",
)
def demo(days: int, seed: int, store: str, html: str | None) -> None:
    """Walk a simulated host through every rollout stage, then print the status."""
    from selflearn.demo import run_demo

    with cli_errors():
        parsed = StoreURL.parse(store)
        if parsed.kind == "sqlite" and parsed.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{parsed.path}{suffix}").unlink(missing_ok=True)
        if html is None:
            html = str(
                parsed.path.with_suffix(".html")
                if parsed.kind == "sqlite" and parsed.path is not None
                else Path("data", "demo.html")
            )
        run_demo(store=store, days=days, seed=seed, echo=click.echo, html=html)


@main.command()
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


def _missing_sqlite_file(store: str) -> bool:
    """Whether `store` names a SQLite file that does not exist (opening it would create it)."""
    parsed = StoreURL.parse(store)
    return parsed.kind == "sqlite" and parsed.path is not None and not parsed.path.exists()


@main.command()
@click.option(
    "--from", "source", required=True, metavar="PATH", help="The v1 proposals file (JSON)."
)
@click.option("--dry-run", is_flag=True, help="Record nothing; report what would happen.")
@json_option
@store_option
def migrate(source: str, dry_run: bool, as_json: bool, store: str) -> None:
    """Import a v1 proposals file: each row once, as it was, upcast on load."""
    import json

    from selflearn.loop import LearningLoop

    with cli_errors():
        if dry_run and _missing_sqlite_file(store):
            store = "memory://"  # what an import into a new store would do, creating nothing
        with LearningLoop(store, _import_v1=False) as loop:
            report = loop.migrate_v1(source, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    verb = "would migrate" if report.dry_run else "migrated"
    click.echo(
        f"{report.source}: {report.found} rows found; {verb} {report.migrated}, "
        f"{report.already_present} already present, {len(report.skipped)} skipped"
        + (" (dry run: nothing recorded)" if report.dry_run else "")
    )
    for row in report.skipped:
        shown = f" (id {row.id!r})" if row.id is not None else ""
        click.echo(f"  skipped proposals[{row.index}]{shown}: {row.reason}")
    for error in report.errors:
        click.echo(f"  error: {error}")


@main.command()
@click.option(
    "--out", "out", required=True, metavar="DIR", help="An existing directory to write into."
)
@json_option
@store_option
def export(out: str, as_json: bool, store: str) -> None:
    """Write the evidence files outcome_evidence.jsonl and experiment_runs_v2.json."""
    with cli_errors(), open_loop(store) as loop:
        result = loop.export_evidence(out)
    if as_json:
        echo_json(result.to_dict())
        return
    attempts = "attempt" if result.attempts == 1 else "attempts"
    runs = "run" if result.runs == 1 else "runs"
    click.echo(f"{result.attempts} verification {attempts} → {result.evidence_file}")
    click.echo(f"{result.runs} {runs} → {result.runs_file}")


__all__ = ["cli_errors", "json_option", "main", "store_option"]
