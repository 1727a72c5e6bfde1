"""Budgets: the small-work switch and the merge comparison's budget that follows it."""

from __future__ import annotations

import pytest

from blendmask.lab import budgets


def test_smoke_switch_parses_and_rejects_unknown_values():
    assert budgets.smoke_mode({"BLENDMASK_SMOKE": "1"}) is True
    assert budgets.smoke_mode({"BLENDMASK_SMOKE": "yes"}) is True
    assert budgets.smoke_mode({"BLENDMASK_SMOKE": "0"}) is False
    assert budgets.smoke_mode({}) is False
    with pytest.raises(ValueError, match="BLENDMASK_SMOKE"):
        budgets.smoke_mode({"BLENDMASK_SMOKE": "maybe"})


def test_budget_follows_the_smoke_switch(monkeypatch):
    smoke, full = budgets.MERGE_SMOKE, budgets.MERGE_FULL
    monkeypatch.setenv("BLENDMASK_SMOKE", "1")
    assert budgets.smoke_mode() and budgets.merge_budget() is smoke
    monkeypatch.setenv("BLENDMASK_SMOKE", "0")
    assert not budgets.smoke_mode() and budgets.merge_budget() is full
    monkeypatch.delenv("BLENDMASK_SMOKE")
    assert budgets.merge_budget() is full and budgets.merge_budget(smoke=True) is smoke
    assert smoke.max_iter < full.max_iter and len(full.seeds) >= len(smoke.seeds)
