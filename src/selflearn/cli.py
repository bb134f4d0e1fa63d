"""The `selflearn` command line: one click group, one service call and its rendering per command."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import structlog

from selflearn.config import DEFAULT_STORE
from selflearn.exceptions import SelflearnError
from selflearn.store import StoreURL

DEMO_STORE = "sqlite:///data/demo.db"


def configure_logging(verbose: bool) -> None:
    """Logs go to stderr (console on a TTY, JSON otherwise); stdout stays for output."""
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer()
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.INFO if verbose else logging.WARNING
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


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


@main.command()
@click.option(
    "--days", type=click.IntRange(1, 60), default=1, show_default=True, help="Simulated days."
)
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Seed of the simulation and the bandit."
)
@click.option(
    "--store",
    default=DEMO_STORE,
    show_default=True,
    help="Where the demo records its events; a SQLite file here is replaced on each run.",
)
def demo(days: int, seed: int, store: str) -> None:
    """Run a simulated host through simulated days and print what each cycle did."""
    from selflearn.demo import run_demo

    with cli_errors():
        parsed = StoreURL.parse(store)
        if parsed.kind == "sqlite" and parsed.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{parsed.path}{suffix}").unlink(missing_ok=True)
        run_demo(store=store, days=days, seed=seed, echo=click.echo)


@main.command()
@click.argument("run_id")
@click.option("--reason", required=True, help="Why the run is rolled back (recorded).")
@store_option
@json_option
def rollback(run_id: str, reason: str, store: str, as_json: bool) -> None:
    """Undo a run's real apply: restore its files from the backups, verified by hash."""
    import json

    from selflearn.loop import LearningLoop

    with cli_errors():
        parsed = StoreURL.parse(store)
        if parsed.kind == "sqlite" and parsed.path is not None and not parsed.path.exists():
            raise click.ClickException(f"no store at {parsed.path}")
        with LearningLoop(store, _import_v1=False) as loop:
            report = loop.rollback(run_id, reason=reason)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
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
    """Import a v1 proposals file (SPEC §11): each row once, as it was, upcast on load."""
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
    import json

    from selflearn.loop import LearningLoop

    with cli_errors():
        if _missing_sqlite_file(store):
            raise click.ClickException(f"no store at {store}: the file does not exist")
        with LearningLoop(store, _import_v1=False) as loop:
            result = loop.export_evidence(out)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    attempts = "attempt" if result.attempts == 1 else "attempts"
    runs = "run" if result.runs == 1 else "runs"
    click.echo(f"{result.attempts} verification {attempts} → {result.evidence_file}")
    click.echo(f"{result.runs} {runs} → {result.runs_file}")


__all__ = ["cli_errors", "json_option", "main", "store_option"]
