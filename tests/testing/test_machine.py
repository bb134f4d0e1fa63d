"""The guardrail invariants under random operators, hosts, clocks, flags and crashes."""

from __future__ import annotations

from hypothesis import settings

from selflearn.testing import LearningLoopMachine


class SQLiteMachine(LearningLoopMachine):
    def store_url(self) -> str:
        return f"sqlite:///{self.workdir}/store.db"


TestMachineMemory = LearningLoopMachine.TestCase
TestMachineMemory.settings = settings(settings(), stateful_step_count=30)

TestMachineSQLite = SQLiteMachine.TestCase
TestMachineSQLite.settings = settings(settings(), stateful_step_count=30)
