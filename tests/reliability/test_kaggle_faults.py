"""Kaggle faults through the local API double: every call meets 500, 503, 429, an answer slower
than the timeout, and a connection dropped before or after the server acted.

Safe calls (limits, list, get, leaderboard, StartSubmissionUpload, the upload PUT) must be
retried with backoff and succeed; CreateSubmission is never retried; no submission is ever
created twice; the store says exactly what happened: `submitted`, `failed` with the reason, or
`unknown` until `sync` resolves it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kagglebench.errors import UserError
from kagglebench.kaggle import client as C
from kagglebench.kaggle import submit as S
from kagglebench.kaggle import sync
from kagglebench.workspace import Workspace
from tests.kaggle.double import KaggleDouble

TIMEOUT = 0.4   # the client's per-request timeout in these tests
SLOW = 1.0      # a slow answer: past the timeout

FAULTS = ["500", "503", "429", "slow", "drop-before", "drop-after"]


def _inject(kd: KaggleDouble, method: str, fault: str) -> None:
    if fault.isdigit():
        kd.fail(method, status=int(fault))
    elif fault == "slow":
        kd.slow(method, seconds=SLOW)
    else:
        kd.drop(method, process=fault == "drop-after")


def _until(cond, limit_s: float = 30.0) -> None:
    """Wait for a condition another thread makes true (not a timing assertion: the limit only
    keeps a broken test from hanging)."""
    import time

    end = time.monotonic() + limit_s
    while not cond():
        assert time.monotonic() < end, "condition never became true"
        time.sleep(0.02)


def _connect() -> C.KaggleClient:
    return C.connect(timeout=TIMEOUT, backoff=0.01)


@pytest.fixture(scope="module")
def sub_demo(tmp_path_factory) -> Path:
    from kagglebench.data.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("kfault") / "ws", classes=4, train=40, test=1, seed=7)


@pytest.fixture
def ws(sub_demo: Path, tmp_path: Path) -> Workspace:
    import shutil

    shutil.copytree(sub_demo, tmp_path / "ws")
    return Workspace(tmp_path / "ws")


@pytest.fixture
def kd(make_double, ws: Workspace) -> KaggleDouble:
    return make_double(competition=ws.competition, answer_key=ws.answer_key())


def _csv(ws: Workspace, tmp_path: Path) -> Path:
    path = tmp_path / "answers.csv"
    path.write_bytes(ws.answer_key().read_bytes())
    return path


def _records(ws: Workspace) -> list[dict]:
    with ws.store() as store:
        return [s for s in store.list_submissions(ws.competition) if s["status"] != "dry-run"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", ["GetSubmissionLimits", "ListSubmissions", "GetSubmission", "GetLeaderboard"])
def test_safe_calls_are_retried_through_every_fault(ws, kd: KaggleDouble, tmp_path: Path, method: str,
                                                    fault: str) -> None:
    S.submit(ws, message="seed", file=str(_csv(ws, tmp_path)), connect=_connect)
    kd.requests.clear()
    k = _connect()
    _inject(kd, method, fault)
    call = {"GetSubmissionLimits": lambda: k.limits(ws.competition),
            "ListSubmissions": lambda: sync.sync_submissions(ws, k, ws.competition),
            "GetSubmission": lambda: k.get_submission(kd.submissions[0].ref),
            "GetLeaderboard": lambda: sync.sync_leaderboard(ws, k, ws.competition)}[method]
    assert call()  # answered after a retry
    assert len(kd.calls(method)) == 2
    assert len(kd.submissions) == 1


# What a fault at each submit step must end in. StartSubmissionUpload and the PUT create nothing
# on Kaggle, so they are retried and the submit goes through. CreateSubmission is never repeated:
# a 4xx is a refusal (nothing recorded), anything else leaves the outcome unknown until sync
# finds out from Kaggle's list whether the double had recorded it before failing.
ARRIVES = {"slow": True, "drop-after": True, "500": False, "503": False, "drop-before": False}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", ["StartSubmissionUpload", "PUT", "CreateSubmission"])
def test_submit_steps_are_never_repeated_and_the_record_says_what_happened(
        ws, kd: KaggleDouble, tmp_path: Path, method: str, fault: str) -> None:
    _inject(kd, method, fault)
    csv = _csv(ws, tmp_path)
    if method != "CreateSubmission":  # retried: it goes through, once
        out = S.submit(ws, message="first", file=str(csv), connect=_connect)
        assert len(kd.calls(method)) == 2 and len(kd.calls("CreateSubmission")) == 1
        (rec,) = _records(ws)
        assert rec["status"] == "submitted" and rec["ref"] == out["ref"] == str(kd.submissions[0].ref)
        return
    with pytest.raises(UserError) as e:
        S.submit(ws, message="first", file=str(csv), connect=_connect)
    assert len(kd.calls("CreateSubmission")) == 1
    (rec,) = _records(ws)
    if fault == "429":  # refused with Kaggle's own words; nothing recorded there
        assert rec["status"] == "failed" and kd.submissions == []
        assert "Too many requests" in e.value.what and e.value.what in rec["error"]
    else:
        assert rec["status"] == "unknown" and "--sync" in e.value.what
        if ARRIVES[fault]:  # the slow answer: let the double finish recording it first
            _until(lambda: kd.submissions)
        sync.sync_submissions(ws, _connect(), ws.competition)
        (rec,) = _records(ws)
        if ARRIVES[fault]:
            assert rec["ref"] == str(kd.submissions[0].ref) and rec["status"] in ("submitted", "complete")
        else:
            assert rec["status"] == "failed" and "safe to submit again" in rec["error"]
    # Sending the same file again never makes a second copy of one that did arrive (and does
    # send one that did not).
    arrived = len(kd.submissions) == 1
    try:
        S.submit(ws, message="first", file=str(csv), connect=_connect)
    except UserError as again:
        assert arrived and "not sending it twice" in again.what
    assert len(kd.submissions) == 1
    assert len(kd.calls("CreateSubmission")) == 1 + (not arrived)


def test_killed_mid_submit_pending_record_is_checked_before_resending(ws, kd: KaggleDouble,
                                                                        tmp_path: Path) -> None:
    csv = _csv(ws, tmp_path)
    digest = S.sha256_of(csv)
    # A submit whose process died after Kaggle recorded it: a `pending` row with no ref.
    with ws.store() as store:
        store.add_submission(competition=ws.competition, file=str(csv), status="pending", sha256=digest,
                             message="first", rows=95)
    C.connect().submit(csv, "first", ws.competition)
    with pytest.raises(UserError, match="not sending it twice"):
        S.submit(ws, message="first", file=str(csv), connect=_connect)
    assert len(kd.submissions) == 1
    (rec,) = _records(ws)
    assert rec["status"] in ("submitted", "complete") and rec["ref"] == str(kd.submissions[0].ref)
