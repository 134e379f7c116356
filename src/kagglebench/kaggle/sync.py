"""`submissions --sync` and `leaderboard --sync`: Kaggle's view joined to the local records.

Each submission Kaggle lists (every page) is matched to the local record with the same ref, or
else, for a submit whose outcome is unknown (the answer to CreateSubmission was never read),
to the record with the same file name, size and message: Kaggle keeps all three, and they do
not depend on anyone's clock. Submissions made outside kagglebench are added with source
'kaggle'. An `unknown` record that Kaggle does not list becomes `failed` (it never arrived:
safe to submit again); so does a `pending` one, but only when the caller holds the submit lock
(`settle_pending`): otherwise it may be a submit in flight in another process.
`fit_relation` fits public score against the local estimate once a few are scored and flags
the submissions that do not follow the line.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

MIN_FIT = 3
UNSETTLED = ("pending", "unknown")


def _epoch(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return dt.datetime.fromisoformat(iso.rstrip("Z")).replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def _status(remote: dict) -> str:
    return {"pending": "submitted"}.get(remote["status"], remote["status"])


def _same_upload(rec: dict, remote: dict) -> bool:
    """Whether `remote` can be the upload of local record `rec`: same file name, same message,
    same size (when both sides know it)."""
    size_ok = rec.get("bytes") is None or remote.get("bytes") is None or rec["bytes"] == remote["bytes"]
    return (Path(rec["file"]).name == remote["file_name"] and size_ok
            and (rec["message"] or "").strip() == (remote["description"] or "").strip())


def _find_local(remote: dict, local: list[dict], taken: set[int], settle_pending: bool) -> dict | None:
    for rec in local:
        if rec["ref"] == remote["ref"]:
            return rec
    open_statuses = UNSETTLED if settle_pending else ("unknown",)
    found = [rec for rec in local if rec["id"] not in taken and not rec["ref"]
             and rec["status"] in open_statuses and _same_upload(rec, remote)]
    if len(found) > 1:  # the same name, size and message twice: the nearest in time
        when = _epoch(remote["date"]) or 0.0
        found.sort(key=lambda rec: abs(rec["created"] - when))
    return found[0] if found else None


def sync_submissions(ws: Workspace, kaggle: Any, competition: str, *, settle_pending: bool = False
                     ) -> list[dict[str, Any]]:
    """Merge Kaggle's list into the store; returns the joined view (see `view`)."""
    remote = kaggle.submissions(competition)
    with ws.store() as store:
        local = store.list_submissions(competition)
        taken: set[int] = set()
        for r in sorted(remote, key=lambda r: _epoch(r["date"]) or 0.0):  # oldest first
            fields = {"ref": r["ref"], "status": _status(r), "public_score": r["public_score"],
                      "private_score": r["private_score"], "kaggle_date": r["date"],
                      "error": r["error_description"] or None}
            rec = _find_local(r, local, taken, settle_pending)
            if rec is None:
                store.add_submission(competition=competition, file=r["file_name"], message=r["description"],
                                     source="kaggle", bytes=r.get("bytes"), **fields)
            else:
                taken.add(rec["id"])
                rec["ref"] = r["ref"]
                store.update_submission(rec["id"], **fields)
        for rec in local:
            never = rec["status"] == "unknown" or (settle_pending and rec["status"] == "pending")
            if never and rec["id"] not in taken:
                store.update_submission(rec["id"], status="failed",
                                        error="Kaggle never received it (checked by --sync); safe to submit again")
    return view(ws, competition)


def view(ws: Workspace, competition: str | None) -> list[dict[str, Any]]:
    """The `submissions --json` rows, oldest first, with an `outlier` flag from `fit_relation`."""
    with ws.store() as store:
        subs = store.list_submissions(competition)
    fit = fit_relation(subs)
    flagged = set(fit["outliers"]) if fit else set()
    return [{"ref": s["ref"], "file": s["file"], "sha256": s["sha256"], "message": s["message"],
             "status": s["status"], "public_score": s["public_score"], "private_score": s["private_score"],
             "local_estimate": s["local_estimate"], "ood_estimate": s["ood_estimate"],
             "members": s["members"], "source": s["source"], "error": s["error"],
             "date": s["kaggle_date"], "outlier": s["id"] in flagged} for s in subs]


def _local_x(s: dict) -> float | None:
    return s["ood_estimate"] if s["ood_estimate"] is not None else s["local_estimate"]


def fit_relation(subs: list[dict]) -> dict[str, Any] | None:
    """The line public = a + b * local (the OOD estimate, else validation accuracy) over scored
    submissions, and the ones off it. Theil-Sen (median of pairwise slopes) so that one bad
    submission cannot drag the line to itself; a point is an outlier when its residual exceeds
    3 robust standard deviations (1.4826 x median absolute residual) and 0.05. None with fewer
    than MIN_FIT points."""
    import numpy as np
    from scipy.stats import theilslopes

    pts = [(s["id"], _local_x(s), s["public_score"]) for s in subs
           if _local_x(s) is not None and s["public_score"] is not None]
    if len(pts) < MIN_FIT:
        return None
    x = np.array([p[1] for p in pts], dtype=np.float64)
    y = np.array([p[2] for p in pts], dtype=np.float64)
    if np.ptp(x) == 0:
        b, a = 0.0, float(np.median(y))
    else:
        b, a = (float(v) for v in theilslopes(y, x)[:2])
    resid = y - (a + b * x)
    scale = max(3 * 1.4826 * float(np.median(np.abs(resid))), 0.05)
    out = np.abs(resid) > scale
    return {"intercept": a, "slope": b, "n": len(pts), "residual_sd": float(resid[~out].std()),
            "outliers": [p[0] for p, o in zip(pts, out) if o]}


def relation_line(subs: list[dict]) -> str | None:
    fit = fit_relation(subs)
    if fit is None:
        return None
    return (f"public score ~= {fit['intercept']:.3f} + {fit['slope']:.3f} x local estimate "
            f"(from {fit['n']} scored submissions; residual sd {fit['residual_sd']:.3f}; "
            f"{len(fit['outliers'])} outlier(s) marked !)")


def sync_leaderboard(ws: Workspace, kaggle: Any, competition: str, team: str | None = None) -> dict[str, Any]:
    """Fetch the public leaderboard and store a snapshot with my rank (my team = `team`, else the
    kagglebench.toml `team` setting, else the Kaggle username)."""
    entries = kaggle.leaderboard(competition)
    me = team or ws.settings.get("team") or getattr(kaggle, "username", None)
    mine = next((e for e in entries if me and e["team"] == me), None)
    with ws.store() as store:
        store.add_leaderboard_snapshot(
            competition, [{"rank": e["rank"], "team": e["team"], "score": e["score"], "date": e["date"]}
                          for e in entries], mine["rank"] if mine else None, mine["score"] if mine else None)
        snap = store.latest_leaderboard(competition)
    return snap
