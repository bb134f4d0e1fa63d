"""Real apply at the loop level: apply, refuse, roll back, reconcile.

Each behaviour is a base class run against memory, SQLite and PostgreSQL stores, with the
fakes of `selflearn.testing`, the fake clock and a small workspace on disk.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import selflearn as sl
from selflearn.cycle.proposals import create_proposal
from selflearn.realapply.workspace import Hooks, Workspace, write_all
from tests.conftest import BackendCase, Harness, app_of, session_of, set_host
from tests.workspaces import (
    APP,
    APP_DIFF,
    APP_V1,
    APP_V2,
    README_DIFF,
    README_V1,
    README_V2,
    DiskFull,
    OnStep,
    make_workspace,
    outside_selflearn,
    sha,
    tree,
)

REAL = sl.Flags(
    execution_mode_default="normal",
    enable_executor_real_apply=True,
    executor_real_apply_max_patches=2,
    normal_mode_max_per_hour=10,
    enable_policy_bandit=False,
)
MakeHarness = Callable[..., Harness]
SECRET = b"do not touch\n"


class Crash(BaseException):
    """Stands for the process dying at this point (nothing after it runs)."""


def kinds(h: Harness, pid: str) -> list[str]:
    return [entry.kind for entry in h.loop.timeline(pid)]


def position(h: Harness) -> int:
    return app_of(h.loop).recorder.max_notification_id() or 0


class RealApplyCase(BackendCase):
    @pytest.fixture
    def ws(self, tmp_path: Path) -> Path:
        return make_workspace(tmp_path / "ws")

    @pytest.fixture
    def outside(self, tmp_path: Path) -> Path:
        secret = tmp_path / "outside" / "secret.txt"
        secret.parent.mkdir()
        secret.write_bytes(SECRET)
        return secret

    @staticmethod
    def real(make: MakeHarness, ws: Path | None, flags: sl.Flags = REAL) -> Harness:
        h = make(flags=flags, workspace=ws)
        h.executor.effects["bad"] = {"health_score": -2.0}
        h.executor.effects["good"] = {"health_score": +2.0}
        return h


# -- apply, loss, win, operator rollback ----------------------------------------------------


class TestApply(RealApplyCase):
    def test_apply_then_loss_restores_byte_for_byte(self, make: MakeHarness, ws: Path) -> None:
        """The executor runs on the patched files; a final loss restores them byte for byte."""
        h = self.real(make, ws)
        seen: list[tuple[bytes, bytes]] = []

        def execute(proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
            seen.append(((ws / APP).read_bytes(), (ws / "README.md").read_bytes()))
            return sl.ExecutionResult()

        h.executor.outcomes["bad"] = execute
        before = outside_selflearn(ws)
        pid = h.approved("bad", patches=(APP_DIFF, README_DIFF))
        report = h.loop.tick()
        assert [(APP_V2, README_V2)] == seen
        assert (report.normal_mode_runs, report.losses) == (1, 1)
        assert before == outside_selflearn(ws)
        assert [
            "Proposed",
            "Approved",
            "RunStarted",
            "Admitted",
            "ApplyIntended",
            "PatchesApplied",
            "RunExecuted",
            "AttemptVerified",
            "RunConverged",
            "PatchesRolledBack",
        ] == kinds(h, pid)

    def test_timeline_shows_every_step_with_hashes(self, make: MakeHarness, ws: Path) -> None:
        """Intent, apply and rollback each name the files with their hashes and backups."""
        h = self.real(make, ws)
        pid = h.approved("bad", patches=(APP_DIFF,))
        h.loop.tick()
        entries = {e.kind: e.detail for e in h.loop.timeline(pid)}
        app = {
            "path": APP,
            "before_sha256": sha(APP_V1),
            "after_sha256": sha(APP_V2),
            "backup": f".selflearn/backups/{sha(APP_V1)}",
        }
        intent = entries["ApplyIntended"]
        assert [app] == intent["files"]
        assert (intent["patches"], intent["skipped"], intent["max_patches"]) == ([0], [], 2)
        assert os.path.realpath(ws) == intent["workspace"]["root"]
        assert [app] == entries["PatchesApplied"]["files"]
        rollback = entries["PatchesRolledBack"]
        assert ("loop", "final verdict loss at attempt 1", [APP]) == (
            rollback["actor"],
            rollback["reason"],
            rollback["restored"],
        )
        assert [{**app, "restored_sha256": sha(APP_V1)}] == rollback["files"]
        assert APP_V1 == (ws / intent["files"][0]["backup"]).read_bytes()

    def test_win_keeps_the_patches_until_an_operator_rolls_back(
        self, make: MakeHarness, ws: Path
    ) -> None:
        """A win keeps the files; `rollback()` restores them once, with the operator's reason."""
        h = self.real(make, ws)
        pid = h.approved("good", patches=(APP_DIFF, sl.FileEdit("NEW.txt", None, "new\n")))
        assert 1 == h.loop.tick().wins
        assert (APP_V2, b"new\n") == ((ws / APP).read_bytes(), (ws / "NEW.txt").read_bytes())
        run_id = h.loop.proposal(pid).runs[0].id
        report = h.loop.rollback(run_id, reason="incident 7")
        assert (run_id, pid, (APP, "NEW.txt")) == (
            report.run_id,
            report.proposal_id,
            report.restored,
        )
        assert APP_V1 == (ws / APP).read_bytes()
        assert not (ws / "NEW.txt").exists()
        (event,) = h.events("Proposal.PatchesRolledBack")
        assert ("operator", "incident 7") == (event.actor, event.reason)
        told = {e.kind: e.summary for e in h.loop.timeline(pid)}
        assert f"{APP} ({sha(APP_V1)[:12]} → {sha(APP_V2)[:12]})" in told["PatchesApplied"]
        assert "rolled back by operator: incident 7" in told["PatchesRolledBack"]
        with pytest.raises(sl.IllegalTransition, match="already rolled back"):
            h.loop.rollback(run_id, reason="again")
        with pytest.raises(sl.NotFound):
            h.loop.rollback(str(uuid.uuid4()), reason="unknown")
        with pytest.raises(sl.ValidationError, match="reason"):
            h.loop.rollback(run_id, reason=" ")

    def test_executor_failure_after_apply_rolls_back(self, make: MakeHarness, ws: Path) -> None:
        """A run that fails after applying leaves no patch behind, so a rerun applies cleanly."""
        h = self.real(make, ws)
        h.executor.outcomes["good"] = RuntimeError("executor crashed")
        pid = h.approved("good", patches=(APP_DIFF,))
        report = h.loop.tick()
        assert 1 == report.failed
        assert APP_V1 == (ws / APP).read_bytes()
        (rolled,) = h.events("Proposal.PatchesRolledBack")
        assert "run failed: executor_error" == rolled.reason
        del h.executor.outcomes["good"]
        assert 1 == h.loop.tick().wins
        assert APP_V2 == (ws / APP).read_bytes()
        assert "verified" == h.loop.proposal(pid).status

    def test_more_patches_than_the_maximum(self, make: MakeHarness, ws: Path) -> None:
        """Only the first EXECUTOR_REAL_APPLY_MAX_PATCHES patches apply; the rest are skipped."""
        flags = sl.Flags(**{**REAL.recorded(), "executor_real_apply_max_patches": 1})
        h = self.real(make, ws, flags)
        h.approved("good", patches=(APP_DIFF, README_DIFF, sl.FileEdit("x.txt", None, "x")))
        h.loop.tick()
        (intent,) = h.events("Proposal.ApplyIntended")
        assert ([0], [1, 2], 1) == (intent.patches, intent.skipped, intent.max_patches)
        assert (APP_V2, README_V1) == ((ws / APP).read_bytes(), (ws / "README.md").read_bytes())
        assert not (ws / "x.txt").exists()


class TestStatus(RealApplyCase):
    @staticmethod
    def patches(h: Harness) -> dict[str, object]:
        guardrail = h.loop.status().to_dict()["execution_guardrail"]
        return {k: v for k, v in guardrail.items() if "patch" in k or "rollback" in k}

    def test_status_counts_applies_and_rollbacks(self, make: MakeHarness, ws: Path) -> None:
        """Status shows patches applied, held now, rolled back (by the loop or an operator)."""
        h = self.real(make, ws)
        h.approved("bad", patches=(APP_DIFF, README_DIFF))
        h.loop.tick()  # applied, then a loss restores it
        h.clock.advance(hours=2)
        good = h.approved("good", patches=(sl.FileEdit("NEW.txt", None, "new\n"),))
        h.loop.tick()  # applied and kept
        assert {
            "patches_applied_runs": 2,
            "patches_applied_files": 3,
            "patches_applied_now": 1,
            "patches_rolled_back_runs": 1,
            "patches_rolled_back_by_operator": 0,
            "patches_restored_after_failure": 0,
            "patches_checked_runs": 0,
            "patches_check_conflicts": 0,
            "rollbacks_blocked": [],
        } == self.patches(h)
        h.loop.rollback(h.loop.proposal(good).runs[0].id, reason="operator undo")
        after = self.patches(h)
        assert (0, 2, 1) == (
            after["patches_applied_now"],
            after["patches_rolled_back_runs"],
            after["patches_rolled_back_by_operator"],
        )

    def test_status_names_a_blocked_rollback(self, make: MakeHarness, ws: Path) -> None:
        """A rollback blocked by a file someone changed is listed until it is finished."""
        h = self.real(make, ws)

        def meddle(proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
            (ws / "README.md").write_bytes(b"edited by hand\n")
            return sl.ExecutionResult()

        h.executor.outcomes["bad"] = meddle
        pid = h.approved("bad", patches=(APP_DIFF, README_DIFF))
        h.loop.tick()
        run_id = h.loop.proposal(pid).runs[0].id
        assert ([run_id], 1) == (
            self.patches(h)["rollbacks_blocked"],
            self.patches(h)["patches_applied_now"],
        )
        (ws / "README.md").write_bytes(README_V2)
        h.loop.rollback(run_id, reason="README put back")
        assert ([], 0) == (
            self.patches(h)["rollbacks_blocked"],
            self.patches(h)["patches_applied_now"],
        )

    def test_status_counts_safe_mode_checks(self, make: MakeHarness, ws: Path) -> None:
        """Safe-mode runs only check their patches; status counts checks and conflicts."""
        h = self.real(make, ws, sl.Flags(enable_executor_real_apply=True))
        h.approved("good", patches=(APP_DIFF,))
        h.loop.tick()
        assert (1, 0, 0) == (
            self.patches(h)["patches_checked_runs"],
            self.patches(h)["patches_check_conflicts"],
            self.patches(h)["patches_applied_runs"],
        )


# -- attacks and bad input ------------------------------------------------------------------


def _symlink_outside(ws: Path, outside: Path) -> tuple[Any, ...]:
    (ws / "app.ini").symlink_to(outside)
    return (sl.FileEdit("app.ini", sha(SECRET), "pwned\n"),)


def _directory_symlink_outside(ws: Path, outside: Path) -> tuple[Any, ...]:
    (ws / "ext").symlink_to(outside.parent)
    return ("--- a/ext/secret.txt\n+++ b/ext/secret.txt\n@@ -1 +1 @@\n-do not touch\n+pwned\n",)


def _context_mismatch(ws: Path, outside: Path) -> tuple[Any, ...]:
    return (APP_DIFF.replace("-workers=2", "-workers=3"),)


def _hash_mismatch(ws: Path, outside: Path) -> tuple[Any, ...]:
    return (sl.FileEdit(APP, sha(b"another version\n"), "x\n"),)


def _binary_file(ws: Path, outside: Path) -> tuple[Any, ...]:
    return ("--- a/logo.png\n+++ b/logo.png\n@@ -1 +1 @@\n-PNG\n+GIF\n",)


def _deleted_since_approval(ws: Path, outside: Path) -> tuple[Any, ...]:
    return (sl.FileEdit(APP, sha(APP_V1), "x\n"),)


def _read_only(ws: Path, outside: Path) -> tuple[Any, ...]:
    (ws / APP).chmod(0o444)
    return (APP_DIFF,)


def _hard_link_outside(ws: Path, outside: Path) -> tuple[Any, ...]:
    os.link(outside, ws / "notes.txt")
    return (sl.FileEdit("notes.txt", sha(SECRET), "pwned\n"),)


def _missing_directory(ws: Path, outside: Path) -> tuple[Any, ...]:
    return (sl.FileEdit("new/dir/x.txt", None, "x\n"),)


def _large_file(ws: Path, outside: Path) -> tuple[Any, ...]:
    with (ws / "big.log").open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    return ("--- a/big.log\n+++ b/big.log\n@@ -1 +1 @@\n-x\n+y\n",)


def _too_many_files(ws: Path, outside: Path) -> tuple[Any, ...]:
    def creations(first: int) -> str:
        return "".join(
            f"--- /dev/null\n+++ b/f{n}.txt\n@@ -0,0 +1 @@\n+{n}\n"
            for n in range(first, first + 11)
        )

    return (creations(0), creations(11))


ATTACKS = {
    "symlink_outside": (_symlink_outside, "outside the workspace"),
    "directory_symlink_outside": (_directory_symlink_outside, "outside the workspace"),
    "context_mismatch": (_context_mismatch, "context of hunk 1 does not match line 2"),
    "hash_mismatch": (_hash_mismatch, "pre-image sha256 mismatch"),
    "binary_file": (_binary_file, "binary"),
    "deleted_since_approval": (_deleted_since_approval, "does not exist"),
    "read_only": (_read_only, "read-only"),
    "hard_link_outside": (_hard_link_outside, "hard links"),
    "missing_directory": (_missing_directory, "does not create directories"),
    "large_file": (_large_file, "big.log is larger than 1048576 bytes"),
    "too_many_files": (_too_many_files, "touch 22 files; at most 20"),
}


class TestAttack(RealApplyCase):
    @pytest.mark.parametrize("attack", sorted(ATTACKS))
    def test_refused_with_nothing_written(
        self, make: MakeHarness, ws: Path, outside: Path, attack: str
    ) -> None:
        """The run fails with real_apply_failed naming the problem; not a byte is written."""
        setup, fragment = ATTACKS[attack]
        h = self.real(make, ws)
        pid = h.approved("good", patches=setup(ws, outside))
        if attack == "deleted_since_approval":
            (ws / APP).unlink()
        before = tree(ws)
        report = h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert "real_apply_failed" == failed.reason
        assert fragment in failed.error
        assert 1 == report.failed
        assert fragment in (report.runs[0].error or "")
        assert before == tree(ws)
        assert SECRET == outside.read_bytes()
        assert [] == h.executor.calls
        assert [] == h.events("Proposal.ApplyIntended")
        assert "approved" == h.loop.proposal(pid).status

    def test_a_stored_patch_refused_by_todays_rules_fails_the_run(
        self, make: MakeHarness, ws: Path
    ) -> None:
        """A recorded patch that validation now refuses fails the run; the loop goes on."""
        h = self.real(make, ws)
        before = tree(ws)
        pid = str(uuid.uuid4())
        draft = sl.ProposalDraft(
            title="old", priority=0.95, risk_level="low", patches=(sl.FileEdit("x", None, "a\0"),)
        )
        assert create_proposal(session_of(h.loop), pid, draft, origin_event_ids=[], at=h.clock())
        h.loop.approve(pid, reason="recorded before the rule")
        assert 1 == h.loop.tick().failed
        (failed,) = h.events("Proposal.RunFailed")
        assert ("real_apply_failed", True) == (failed.reason, "NUL byte" in failed.error)
        assert before == tree(ws)

    def test_a_workspace_locked_by_another_holder_is_refused(
        self, make: MakeHarness, ws: Path
    ) -> None:
        """A workspace another process keeps locked: the run fails after the wait, unwritten."""
        h = self.real(make, ws)
        set_host(h.loop, apply_hooks=Hooks(lock_timeout=0.2))
        h.approved("good", patches=(APP_DIFF,))
        before = tree(ws)
        with Workspace(ws).locked():
            h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert "stayed locked by another process" in failed.error
        assert before == tree(ws)

    def test_a_workspace_removed_after_start_fails_the_run(
        self, make: MakeHarness, ws: Path
    ) -> None:
        """A workspace gone by the time of the apply fails the run; the loop goes on."""
        h = self.real(make, ws)
        h.approved("good", patches=(APP_DIFF,))
        ws.rename(ws.with_name("moved"))
        assert 1 == h.loop.tick().failed
        (failed,) = h.events("Proposal.RunFailed")
        assert ("real_apply_failed", True) == (
            failed.reason,
            "not an existing directory" in failed.error,
        )

    def test_real_apply_without_a_workspace_is_refused(self, make: MakeHarness) -> None:
        """Real apply on but no workspace: the run fails with a clear reason, nothing runs."""
        h = self.real(make, None)
        h.approved("good", patches=(APP_DIFF,))
        h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert "real_apply_failed" == failed.reason
        assert "no workspace was given" in failed.error
        assert [] == h.executor.calls

    @pytest.mark.parametrize("path", ["../outside/secret.txt", "/etc/passwd"])
    def test_paths_leaving_the_workspace_are_refused_at_propose(
        self, make: MakeHarness, ws: Path, path: str
    ) -> None:
        """`../` and absolute paths are a ValidationError at propose(); nothing is recorded."""
        h = self.real(make, ws)
        before, recorded = tree(ws), position(h)
        diff = f"--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"
        for patch in (diff, f"--- {path}\n+++ {path}\n@@ -1 +1 @@\n-a\n+b\n"):
            with pytest.raises(sl.ValidationError, match="patch path"):
                h.propose(patches=(patch,))
        with pytest.raises(sl.ValidationError, match="patch path"):
            sl.FileEdit(path, None, "x")
        assert (before, recorded) == (tree(ws), position(h))

    def test_symlink_swapped_in_after_validation(
        self, make: MakeHarness, ws: Path, outside: Path
    ) -> None:
        """A file swapped for a symlink after the plan is refused at write time."""
        h = self.real(make, ws)

        def swap() -> None:
            (ws / APP).rename(ws / "conf" / "moved.ini")
            (ws / APP).symlink_to(outside)

        set_host(h.loop, apply_hooks=Hooks(on_step=OnStep("intended", swap)))
        h.approved("good", patches=(APP_DIFF,))
        h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert "real_apply_failed" == failed.reason
        assert "is a symlink" in failed.error
        assert SECRET == outside.read_bytes()
        assert APP_V1 == (ws / "conf" / "moved.ini").read_bytes()
        (abandoned,) = h.events("Proposal.ApplyAbandoned")
        assert [] == abandoned.restored
        assert not (ws / ".selflearn" / "backups").exists()

    def test_file_deleted_between_two_writes(self, make: MakeHarness, ws: Path) -> None:
        """A file deleted after the first file was written: the first is restored."""
        h = self.real(make, ws)
        before = outside_selflearn(ws)
        hook = OnStep(f"wrote:{APP}", (ws / "README.md").unlink)
        set_host(h.loop, apply_hooks=Hooks(on_step=hook))
        h.approved("good", patches=(APP_DIFF, README_DIFF))
        h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert "README.md changed since it was checked" in failed.error
        (abandoned,) = h.events("Proposal.ApplyAbandoned")
        assert [APP] == abandoned.restored
        del before["README.md"]
        assert before == outside_selflearn(ws)

    def test_disk_full_mid_apply_restores(self, make: MakeHarness, ws: Path) -> None:
        """A full disk on the second file: the first is restored, backups are removed."""
        h = self.real(make, ws)
        before = outside_selflearn(ws)
        set_host(h.loop, apply_hooks=Hooks(write=DiskFull(fail_at=5)))  # id, 2 backups, 2 files
        h.approved("good", patches=(APP_DIFF, README_DIFF))
        h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert "no space left on the device" in failed.error
        assert before == outside_selflearn(ws)
        assert ["workspace-id"] == os.listdir(ws / ".selflearn")
        assert [] == h.executor.calls

    def test_disk_full_while_backing_up_writes_nothing(self, make: MakeHarness, ws: Path) -> None:
        """A full disk while taking the backups: refused before the intent, nothing written."""
        h = self.real(make, ws)
        before = tree(ws)
        set_host(h.loop, apply_hooks=Hooks(write=DiskFull(fail_at=2)))
        h.approved("good", patches=(APP_DIFF, README_DIFF))
        h.loop.tick()
        (failed,) = h.events("Proposal.RunFailed")
        assert "No space left" in failed.error
        assert before == tree(ws)
        assert [] == h.events("Proposal.ApplyIntended")


class TestLeak(RealApplyCase):
    def test_workspace_secrets_never_reach_the_log(
        self,
        make: MakeHarness,
        ws: Path,
        capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Patches refused against files holding secrets record neither a line of those
        files nor the hash of a file they did not name: checked in every stored event, the
        store's files and the log lines, in safe mode (check) and with real apply."""
        (ws / APP).write_bytes(b"[app]\nDB_PASSWORD=hunter2-s3cr3t\ntimeout=30\n")
        (ws / ".env").write_bytes(b"API_TOKEN=tok-9f8e7d6c\n")
        secrets = [b"hunter2-s3cr3t", b"tok-9f8e7d6c"]
        hashes = [sha((ws / APP).read_bytes()), sha((ws / ".env").read_bytes())]
        safe = sl.Flags(**{**REAL.recorded(), "execution_mode_default": "safe"})
        caplog.set_level(logging.DEBUG, logger="selflearn")  # every log line, to check them
        for flags in (safe, REAL):
            h = self.real(make, ws, flags)
            h.approved("mismatch", patches=(APP_DIFF,))
            h.approved("probe", patches=(sl.FileEdit(".env", None, "x\n"),))
            h.approved("guess", patches=(sl.FileEdit(".env", sha(b"API_TOKEN=x\n"), "x\n"),))
            h.loop.tick()
            errors = [e.error for e in h.events() if getattr(e, "error", None)]
            assert 3 <= len(errors), errors
            stored = b"".join(
                n.state
                for n in app_of(h.loop).recorder.select_notifications(start=None, limit=10_000)
            )
            if h.url.startswith("sqlite"):
                path = Path(h.url.removeprefix("sqlite:///").split("?")[0])
                for suffix in ("", "-wal"):
                    if Path(f"{path}{suffix}").exists():
                        stored += Path(f"{path}{suffix}").read_bytes()
            logged = capsys.readouterr()
            assert caplog.records, "the cycle's log lines, checked below"
            for secret in [*secrets, *(digest.encode() for digest in hashes)]:
                assert secret not in stored
                assert secret.decode() not in logged.out + logged.err + caplog.text


# -- real apply off, safe mode -------------------------------------------------------------


class TestCheckOnly(RealApplyCase):
    @pytest.mark.parametrize(
        ("flags", "override", "reason"),
        [
            (sl.Flags(execution_mode_default="normal"), False, "real_apply_disabled"),
            (REAL, True, "real_apply_disabled"),
            (sl.Flags(**{**REAL.recorded(), "execution_mode_default": "safe"}), False, "safe_mode"),
        ],
    )
    def test_workspace_untouched_whatever_the_proposals_say(
        self, make: MakeHarness, ws: Path, flags: sl.Flags, override: bool, reason: str
    ) -> None:
        """Real apply off (flag or override) or a safe run: patches are checked, never written."""
        h = self.real(make, ws, flags)
        if override:
            h.loop.disable("real-apply", reason="not today")
        before = tree(ws)
        h.approved("good", patches=(APP_DIFF, README_DIFF))
        h.approved("bad", patches=(APP_DIFF.replace("-workers=2", "-workers=9"),))
        report = h.loop.tick()
        assert before == tree(ws)
        assert 2 == report.executed
        checks = {e.outcome: e for e in h.events("Proposal.PatchesChecked")}
        assert ["clean", "conflict"] == sorted(checks)
        assert {reason} == {e.reason for e in checks.values()}
        assert [APP, "README.md"] == [f["path"] for f in checks["clean"].files]
        assert sha(README_V2) == checks["clean"].files[1]["after_sha256"]
        assert "context of hunk 1 does not match line 2" in (checks["conflict"].error or "")
        assert [] == h.events("Proposal.ApplyIntended")

    def test_without_a_workspace_the_check_is_recorded_unchecked(self, make: MakeHarness) -> None:
        """With real apply off and no workspace, the run records that nothing was checked."""
        h = self.real(make, None, sl.Flags())
        h.approved("good", patches=(APP_DIFF,))
        h.loop.tick()
        (check,) = h.events("Proposal.PatchesChecked")
        assert ("unchecked", "no workspace was given to the loop") == (check.outcome, check.error)


# -- rollback blocked, crashes and reconciliation ----------------------------------------------


class TestReconcile(RealApplyCase):
    def test_rollback_stops_at_a_file_changed_by_someone_else(
        self, make: MakeHarness, ws: Path
    ) -> None:
        """A loss cannot restore a file someone changed: nothing is overwritten, it is
        recorded once, and an operator finishes the rollback once the file is back."""
        h = self.real(make, ws)

        def meddle(proposal: sl.ProposalView, mode: str) -> sl.ExecutionResult:
            (ws / "README.md").write_bytes(b"edited by hand\n")
            return sl.ExecutionResult()

        h.executor.outcomes["bad"] = meddle
        pid = h.approved("bad", patches=(APP_DIFF, README_DIFF))
        assert 1 == h.loop.tick().losses
        (blocked,) = h.events("Proposal.RollbackBlocked")
        assert ("README.md", sha(README_V2), sha(b"edited by hand\n")) == (
            blocked.path,
            blocked.expected_sha256,
            blocked.found_sha256,
        )
        assert (APP_V2, b"edited by hand\n") == (
            (ws / APP).read_bytes(),
            (ws / "README.md").read_bytes(),
        )
        h.loop.tick()
        assert 1 == len(h.events("Proposal.RollbackBlocked"))  # not retried every cycle
        run_id = h.loop.proposal(pid).runs[0].id
        with pytest.raises(sl.IllegalTransition, match=r"README\.md was changed by someone else"):
            h.loop.rollback(run_id, reason="operator tries")
        (ws / "README.md").write_bytes(README_V2)
        h.loop.rollback(run_id, reason="README put back")
        assert (APP_V1, README_V1) == ((ws / APP).read_bytes(), (ws / "README.md").read_bytes())

    @pytest.mark.parametrize(
        ("step", "found", "restored"),
        [
            ("intended", "not_applied", []),
            (f"wrote:{APP}", "torn", [APP]),
            ("wrote:README.md", "applied", [APP, "README.md"]),
        ],
    )
    def test_crash_mid_apply_is_reconciled_after_the_lease(
        self, make: MakeHarness, ws: Path, step: str, found: str, restored: list[str]
    ) -> None:
        """An intent left without an outcome is resolved from the hashes once the lease is
        over: the run is interrupted and the workspace fully restored, never half-written."""
        h = self.real(make, ws)
        before = outside_selflearn(ws)

        def die() -> None:
            raise Crash

        set_host(h.loop, apply_hooks=Hooks(on_step=OnStep(step, die)))
        pid = h.approved("good", patches=(APP_DIFF, README_DIFF))
        with pytest.raises(Crash):
            h.loop.tick()
        left = outside_selflearn(ws)
        h.clock.advance(seconds=600)
        inside = h.reopen().tick()
        assert (0, left) == (inside.interrupted, outside_selflearn(ws))  # another's lease
        h.clock.advance(seconds=301)
        no_executor = sl.Flags(**{**REAL.recorded(), "enable_experiment_executor": False})
        busy = h.reopen(flags=no_executor)
        set_host(busy, apply_hooks=Hooks(lock_timeout=0.1))
        with Workspace(ws).locked():  # a live process still holds the workspace: wait
            assert 0 == busy.tick().interrupted
        assert left == outside_selflearn(ws)
        report = h.reopen(flags=no_executor).tick()  # reconcile only, no new run
        assert 1 == report.interrupted
        assert before == outside_selflearn(ws)
        assert [] == [n for n in os.listdir(ws / "conf") if n != "app.ini"]  # no temporary
        (reconciled,) = h.events("Proposal.ApplyReconciled")
        assert (found, restored) == (reconciled.found, reconciled.restored)
        assert [sha(APP_V1), sha(README_V1)] == [f["restored_sha256"] for f in reconciled.files]
        view = h.loop.proposal(pid)
        assert ("approved", "interrupted") == (view.status, view.runs[0].execution_status)
        assert ["Admitted", "ApplyIntended", "ApplyReconciled", "RunFailed"] == kinds(h, pid)[3:]
        assert 1 == h.reopen().tick().wins  # the proposal runs again, cleanly
        assert (APP_V2, README_V2) == ((ws / APP).read_bytes(), (ws / "README.md").read_bytes())

    def test_crash_between_loss_and_rollback_is_settled_next_cycle(
        self, make: MakeHarness, ws: Path
    ) -> None:
        """A run that lost but died while restoring is rolled back by the next cycle."""
        h = self.real(make, ws)

        class DiesWhenRestoring:
            armed = False

            def step(self, step: str) -> None:
                self.armed = self.armed or step == f"wrote:{APP}"

            def write(self, fd: int, data: bytes) -> None:
                if self.armed and data == APP_V1:
                    raise Crash
                write_all(fd, data)

        dying = DiesWhenRestoring()
        set_host(h.loop, apply_hooks=Hooks(write=dying.write, on_step=dying.step))
        pid = h.approved("bad", patches=(APP_DIFF,))
        with pytest.raises(Crash):
            h.loop.tick()
        assert ("verified", "loss") == (h.loop.proposal(pid).status, h.loop.proposal(pid).verdict)
        assert APP_V2 == (ws / APP).read_bytes()
        assert [] == [p for p in os.listdir(ws / "conf") if p != "app.ini"]  # no temporary
        h.reopen().tick()
        assert APP_V1 == (ws / APP).read_bytes()
        (rolled,) = h.events("Proposal.PatchesRolledBack")
        assert "final verdict loss (reconciled at the start of a cycle)" == rolled.reason

    def test_operator_rollback_refuses_another_machines_workspace(
        self, make: MakeHarness, ws: Path
    ) -> None:
        """A workspace with another id at the recorded path is not touched."""
        h = self.real(make, ws)
        pid = h.approved("good", patches=(APP_DIFF,))
        h.loop.tick()
        (ws / ".selflearn" / "workspace-id").write_text(f"{uuid.uuid4()}\n")
        run_id = h.loop.proposal(pid).runs[0].id
        with pytest.raises(sl.ValidationError, match="on the machine that holds it"):
            h.loop.rollback(run_id, reason="wrong machine")
        assert APP_V2 == (ws / APP).read_bytes()
