from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from enigma_apex.adapters.profile_files import builtin_registry
from enigma_apex.domain.accounts import Platform
from enigma_apex.rules.calendar import SessionCalendar
from enigma_apex.rules.tracker import AccountTracker, Policy
from tests.unit.rules.helpers import at

PROFILES = builtin_registry().ids()
EVENTS = st.lists(
    st.tuples(
        st.integers(1, 60 * 30),  # minutes since the previous event (crosses closes and weekends)
        st.integers(-800, 800),  # change of the realised balance
        st.integers(-1500, 1500),  # open P&L
        st.booleans(),  # a payout of 500 (funded accounts only)
    ),
    min_size=1,
    max_size=40,
)


def run(profile_id: str, platform: Platform | None, events):
    profile = builtin_registry().get(profile_id)
    cal = SessionCalendar.for_profile(profile)
    t = AccountTracker(
        "P", profile, cal, platform=platform, policy=Policy(max_contracts=3 if profile.max_minis is None else None)
    )
    ts, balance = at(23, 9), profile.start
    history = []
    for minutes, delta, open_pnl, payout in events:
        ts += timedelta(minutes=minutes)
        balance += delta
        before = (t.s.threshold, t.s.locked)
        if payout and profile.phase == "funded" and balance > profile.start:
            t.payout(ts, Decimal(500))
            balance -= 500
        else:
            t.mark(ts, Decimal(balance), Decimal(open_pnl))
        history.append((before, t.s.threshold, t.s.locked, t.equity, t.s.breached, t.snapshot()))
    return t, history


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PROFILES), st.sampled_from([None, *Platform]), EVENTS)
def test_threshold_never_decreases_never_passes_the_lock_and_never_moves_once_locked(profile_id, platform, events):
    t, history = run(profile_id, platform, events)
    lock = t.lock_level
    payout_level = t.profile.payout_threshold_offset
    for (before_threshold, before_locked), threshold, locked, *_ in history:
        if payout_level is None:
            assert threshold >= before_threshold
        if before_locked:
            assert locked and (threshold == before_threshold or payout_level is not None)
        if lock is not None and payout_level is None:
            assert threshold <= max(lock, t.profile.initial_threshold)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PROFILES), EVENTS)
def test_breach_iff_equity_touched_the_threshold(profile_id, events):
    _, history = run(profile_id, None, events)
    touched = False
    for _, threshold, _, equity, breached, _ in history:
        touched = touched or equity <= threshold
        assert breached == touched


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PROFILES), EVENTS)
def test_allowed_contracts_never_exceed_the_profiles_cap(profile_id, events):
    t, history = run(profile_id, None, events)
    cap = t.profile.max_minis or 3
    for *_, snap in history:
        assert snap.max_contracts is not None and 1 <= snap.max_contracts <= cap
        assert snap.contracts_allowed <= snap.max_contracts


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(PROFILES), EVENTS)
def test_replay_is_deterministic(profile_id, events):
    a, _ = run(profile_id, None, events)
    b, _ = run(profile_id, None, events)
    assert a.s.to_json() == b.s.to_json()
    assert a.snapshot() == b.snapshot()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(PROFILES), EVENTS)
def test_persisted_state_round_trips(profile_id, events):
    from enigma_apex.rules.tracker import TrackerState

    t, _ = run(profile_id, None, events)
    assert TrackerState.from_json(t.s.to_json()) == t.s
