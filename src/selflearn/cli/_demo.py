"""`selflearn demo`: the simulated host walked through every rollout stage."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import click

from selflearn.cli._common import cli_errors

DEMO_STORE: Final = "sqlite:///data/demo.db"
#: The demo's own defaults (`selflearn.demo.DEFAULT_DAYS`, `DEFAULT_SEED`; a test keeps
#: them equal), written out so that defining the command imports nothing of the demo.
DEFAULT_DAYS: Final = 7
DEFAULT_SEED: Final = 3


@click.command()
@click.option(
    "--days",
    type=click.IntRange(1, 60),
    default=DEFAULT_DAYS,
    show_default=True,
    help="Simulated days.",
)
@click.option(
    "--seed",
    type=int,
    default=DEFAULT_SEED,
    show_default=True,
    help="Seed of the simulation and the bandit.",
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
    help="Where to write the HTML status page [default: beside a SQLite store, "
    "else data/demo.html].",
)
def demo(days: int, seed: int, store: str, html: str | None) -> None:
    """Walk a simulated host through every rollout stage, then print the status."""
    from selflearn.demo import run_demo
    from selflearn.store import StoreURL

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


COMMANDS = (demo,)
