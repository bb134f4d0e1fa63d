"""The `selflearn` command line: one click group; each command is one service call and its
rendering.

The commands live in small modules by what they do — reading the store (`_reading`), the
operator's decisions (`_operating`), moving data in and out (`_data`), the demo (`_demo`) —
and share their options, error handling and output helpers (`_common`). A command imports
the library when it runs, not when it is defined: `selflearn --help` loads click and
little else.
"""

from __future__ import annotations

import click

from selflearn.cli import _data, _demo, _operating, _reading
from selflearn.cli._common import cli_errors, configure_logging, json_option, store_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log what the loop does (on stderr).")
@click.version_option(package_name="selflearn")
def main(verbose: bool) -> None:
    """selflearn: an agent's self-improvement loop under guardrails."""
    configure_logging(verbose)


for _command in (*_reading.COMMANDS, *_operating.COMMANDS, *_data.COMMANDS, *_demo.COMMANDS):
    main.add_command(_command)


__all__ = ["cli_errors", "json_option", "main", "store_option"]
