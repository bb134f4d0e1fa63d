"""Commands that move data in or out of the store, or rebuild what derives from it: migrate,
export, rebuild."""

from __future__ import annotations

import click

from selflearn.cli._common import (
    LazyChoice,
    cli_errors,
    echo_json,
    json_option,
    missing_sqlite_file,
    open_loop,
    store_option,
)


def _view_names() -> tuple[str, ...]:
    from selflearn.projections import VIEW_NAMES

    return VIEW_NAMES


@click.command()
@click.option(
    "--from", "source", required=True, metavar="PATH", help="The v1 proposals file (JSON)."
)
@click.option("--dry-run", is_flag=True, help="Record nothing; report what would happen.")
@json_option
@store_option
def migrate(source: str, dry_run: bool, as_json: bool, store: str) -> None:
    """Import a v1 proposals file: each row once, as it was, upcast on load."""
    from selflearn.loop import LearningLoop

    with cli_errors():
        if dry_run and missing_sqlite_file(store):
            store = "memory://"  # what an import into a new store would do, creating nothing
        with LearningLoop(store, _import_v1=False) as loop:
            report = loop.migrate_v1(source, dry_run=dry_run)
    if as_json:
        echo_json(report.to_dict())
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


@click.command()
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


@click.command()
@store_option
@click.option(
    "--view",
    "names",
    multiple=True,
    type=LazyChoice(_view_names),
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


COMMANDS = (migrate, export, rebuild)
