"""Audit of a recorded history: the guardrail invariants, checked over the whole log."""
