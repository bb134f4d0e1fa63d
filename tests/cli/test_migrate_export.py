"""`selflearn migrate` and `selflearn export`: one service call each, rendered or as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

import selflearn as sl
from selflearn.cli import main
from selflearn.events.migration import v1_proposal_id
from selflearn.testing import FakeClock, FakeExecutor, FakeProbe

ROWS = [
    {"id": "a", "title": "Cache", "status": "approved", "source_item": {"score": 7.5}},
    {"id": "b", "status": "applied"},
    {"title": "no id"},
]


def v1_file(tmp_path: Path, rows: list[object] = ROWS) -> Path:
    path = tmp_path / "improvement_proposals.json"
    path.write_text(json.dumps({"proposals": rows}))
    return path


def proposals(url: str) -> list[sl.ProposalView]:
    with sl.LearningLoop(url, flags=sl.Flags(), clock=FakeClock(), _import_v1=False) as loop:
        return list(loop.proposals())


def test_migrate_prints_what_it_did(tmp_path: Path) -> None:
    """`migrate --from` imports and prints the counts and each skipped row's reason."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(main, ["migrate", "--from", str(v1_file(tmp_path)), "--store", url])
    assert 0 == result.exit_code, result.output
    assert "3 rows found; migrated 2, 0 already present, 1 skipped" in result.stdout
    assert "skipped proposals[2]: the row has no id" in result.stdout
    assert {str(v1_proposal_id("a")), str(v1_proposal_id("b"))} == {p.id for p in proposals(url)}


def test_migrate_json_and_dry_run(tmp_path: Path) -> None:
    """`--dry-run --json` prints the report as JSON only and records nothing."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    path = str(v1_file(tmp_path))
    runner = CliRunner()
    dry = runner.invoke(main, ["migrate", "--from", path, "--dry-run", "--json", "--store", url])
    assert 0 == dry.exit_code, dry.output
    report = json.loads(dry.stdout)
    assert (True, 3, 2, 0) == (
        report["dry_run"],
        report["found"],
        report["migrated"],
        report["already_present"],
    )
    assert [] == proposals(url)
    real = runner.invoke(main, ["migrate", "--from", path, "--json", "--store", url])
    again = runner.invoke(main, ["migrate", "--from", path, "--json", "--store", url])
    assert (2, 0) == (
        json.loads(again.stdout)["already_present"],
        json.loads(again.stdout)["migrated"],
    )
    assert {**report, "dry_run": False} == json.loads(real.stdout)


def test_migrate_imports_only_the_file_it_is_given(tmp_path: Path) -> None:
    """`migrate` does not also import the SELFLEARN_V1_STORE file when it opens the store."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"proposals": [{"id": "other"}]}))
    path = str(v1_file(tmp_path, [{"id": "given"}]))
    result = CliRunner().invoke(
        main,
        ["migrate", "--from", path, "--store", url],
        env={"SELFLEARN_V1_STORE": str(other)},
    )
    assert 0 == result.exit_code, result.output
    assert [str(v1_proposal_id("given"))] == [p.id for p in proposals(url)]


def test_migrate_errors(tmp_path: Path) -> None:
    """A bad file is exit 1 with the reason on stderr; a missing --from is a usage error."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    bad = tmp_path / "bad.json"
    bad.write_text('{"proposals": 3}')
    runner = CliRunner()
    result = runner.invoke(main, ["migrate", "--from", str(bad), "--store", url])
    assert 1 == result.exit_code
    assert '"proposals" is a number, expected an array' in result.stderr
    assert "" == result.stdout
    missing = runner.invoke(
        main, ["migrate", "--from", str(tmp_path / "nope.json"), "--store", url]
    )
    assert (1, True) == (missing.exit_code, "cannot read the v1 store" in missing.stderr)
    assert 2 == runner.invoke(main, ["migrate", "--store", url]).exit_code


def test_export_writes_the_evidence_files(tmp_path: Path) -> None:
    """`export --out DIR` writes both files; `--json` prints where and how much."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    probe = FakeProbe({"health_score": 80.0})
    with sl.LearningLoop(
        url, flags=sl.Flags(), clock=FakeClock(), probe=probe, executor=FakeExecutor(probe=probe)
    ) as loop:
        loop.approve(loop.propose(sl.ProposalDraft(title="t", priority=0.5, risk_level="low")))
        loop.tick()
    out = tmp_path / "evidence"
    out.mkdir()
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--out", str(out), "--store", url])
    assert 0 == result.exit_code, result.output
    assert f"1 verification attempt → {out / 'outcome_evidence.jsonl'}" in result.stdout
    assert f"1 run → {out / 'experiment_runs_v2.json'}" in result.stdout
    (run,) = json.loads((out / "experiment_runs_v2.json").read_text())["runs"]
    (line,) = (out / "outcome_evidence.jsonl").read_text().splitlines()
    assert run["id"] == json.loads(line)["experiment_id"]
    as_json = runner.invoke(main, ["export", "--out", str(out), "--json", "--store", url])
    data = json.loads(as_json.stdout)
    assert (1, 1, str(out / "outcome_evidence.jsonl")) == (
        data["attempts"],
        data["runs"],
        data["evidence_file"],
    )


def test_export_to_a_missing_directory(tmp_path: Path) -> None:
    """A directory that does not exist is exit 1, said on stderr."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(main, ["export", "--out", str(tmp_path / "no"), "--store", url])
    assert 1 == result.exit_code
    assert "does not exist" in result.stderr


def test_a_dry_run_or_an_export_creates_no_store(tmp_path: Path) -> None:
    """A dry run or an export never creates a SQLite store that does not exist."""
    store = tmp_path / "absent.db"
    url = f"sqlite:///{store}"
    runner = CliRunner()
    dry = runner.invoke(
        main, ["migrate", "--from", str(v1_file(tmp_path)), "--dry-run", "--store", url]
    )
    assert 0 == dry.exit_code, dry.output
    assert "would migrate 2, 0 already present, 1 skipped" in dry.stdout
    out = tmp_path / "out"
    out.mkdir()
    export = runner.invoke(main, ["export", "--out", str(out), "--store", url])
    assert 1 == export.exit_code
    assert f"no store at {url}" in export.stderr
    assert not store.exists()
