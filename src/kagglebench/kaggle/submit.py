"""`kagglebench submit`: make the CSV, validate it, show the odds, send it once, record it.

Order matters and is the point of this module: the CSV is written into the workspace's
`submissions/` and validated (kaggle.formats.validate_csv) before any call to Kaggle, so a
malformed file never costs a daily submission. The store gets a `pending` record before the
upload starts, so a process killed mid-submit leaves a trace; a connection that breaks during
CreateSubmission leaves it `unknown` (Kaggle may have it) for `submissions --sync` to resolve,
and the submit itself is never retried.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kagglebench.errors import UserError

DEFAULT_PUBLIC_FRACTION = 0.5  # share of test rows Kaggle scores publicly, when kagglebench.toml is silent


def log(msg: str) -> None:
    print(msg, file=sys.stderr)


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def csv_name(recipe: str, now: float | None = None) -> str:
    """`submissions/` file name: time first (so they sort), then what made it."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", recipe).strip("-")[:60] or "submission"
    return f"{stamp}-{safe}.csv"


def score_against_key(path: str | Path, key: str | Path) -> float:
    """Accuracy of a submission CSV against a local answer key (id,label), e.g. the demo's."""
    with open(key, newline="") as f:
        truth = {r[0]: r[1].strip() for i, r in enumerate(csv.reader(f)) if i and len(r) >= 2}
    right = total = 0
    with open(path, newline="", encoding="utf-8-sig") as f:
        for i, r in enumerate(csv.reader(f)):
            if i and len(r) >= 2:
                total += 1
                right += truth.get(r[0].strip()) == r[1].strip()
    return right / max(total, 1)


def detectability(new_correct: Any, old_correct: Any, public_rows: int) -> dict[str, Any]:
    """Whether a validation gain would show on the public leaderboard.

    Paired per-image differences d = new_right - old_right on validation give the mean gain and
    its spread; the public score averages `public_rows` images, so its difference has standard
    error sd(d) / sqrt(public_rows). A 95% interval above zero is "likely better", below
    zero "likely worse", otherwise "indistinguishable".
    """
    import numpy as np

    d = np.asarray(new_correct, dtype=np.float64) - np.asarray(old_correct, dtype=np.float64)
    mean, sd = float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0
    half = 1.96 * sd / math.sqrt(max(public_rows, 1))
    lo, hi = mean - half, mean + half
    verdict = "likely better" if lo > 0 else "likely worse" if hi < 0 else "indistinguishable"
    return {"diff": mean, "low": lo, "high": hi, "public_rows": public_rows, "verdict": verdict}


def _best_previous(store: Any, competition: str) -> dict | None:
    subs = [s for s in store.list_submissions(competition) if s["members"] and s["status"] != "dry-run"]
    if not subs:
        return None
    scored = [s for s in subs if s["public_score"] is not None]
    if scored:
        return max(scored, key=lambda s: s["public_score"])
    return max(subs, key=lambda s: s["local_estimate"] or 0.0)


def detectability_line(ws: Any, ens: Any, competition: str, rows: int) -> str | None:
    """The one line printed before a submission, or None with nothing to compare against."""
    from kagglebench import ensemble as E

    with ws.store() as store:
        prev = _best_previous(store, competition)
    if prev is None or ens is None:
        return None
    members = [E.Member(m["run"], str(m["checkpoint"]), m.get("weight", 1.0), m.get("temperature", 1.0))
               for m in prev["members"]]
    try:
        old = E.val_correct(ws, E.Ensemble(members, "previous"))
        new = E.val_correct(ws, ens)
    except UserError:
        return None  # the previous members are gone or used another split
    frac = float(ws.settings.get("public_fraction", DEFAULT_PUBLIC_FRACTION))
    r = detectability(new, old, int(rows * frac))
    return (f"vs your best previous submission ({Path(prev['file']).name}): validation difference "
            f"{r['diff'] * 100:+.2f} pp, 95% interval on the public leaderboard ({r['public_rows']:,} rows) "
            f"[{r['low'] * 100:+.2f}, {r['high'] * 100:+.2f}] pp: {r['verdict']}")


def make_csv(ws: Any, *, ensemble: str | None = None, run: str | None = None, file: str | None = None
             ) -> tuple[Path, Any]:
    """The CSV to send and the Ensemble behind it (None for --file)."""
    from kagglebench import ensemble as E

    if sum(x is not None for x in (ensemble, run, file)) != 1:
        raise UserError("submit", "say what to submit: exactly one of --ensemble topK, --run RUN_ID or --file CSV")
    if file is not None:
        path = Path(file)
        if not path.is_file():
            raise UserError(path, "no such file")
        return path, None
    if ensemble is not None:
        m = re.fullmatch(r"top(\d+)", ensemble)
        if not m:
            raise UserError(f"--ensemble {ensemble}", "write it as topK, e.g. --ensemble top3")
        ens = E.from_request(ws, top=int(m.group(1)))
        name = f"ensemble-{ensemble}"
    else:
        ens = E.from_request(ws, specs=[run])
        name = run.replace(":", "-")
    path = Path(ws.submissions_dir) / csv_name(name)
    E.write_csv(ws, ens, path)
    return path, ens


def _record_fields(ens: Any) -> dict[str, Any]:
    if ens is None:
        return {"members": [], "local_estimate": None, "ood_estimate": None}
    return {"members": [{"run": m.run, "checkpoint": m.checkpoint, "weight": m.weight,
                         "temperature": m.temperature} for m in ens.members],
            "local_estimate": ens.val_acc, "ood_estimate": ens.ood_acc}


def submit(ws: Any, *, message: str, ensemble: str | None = None, run: str | None = None,
           file: str | None = None, competition: str | None = None, dry_run: bool = False,
           wait: bool = False, connect: Callable[[], Any] | None = None, poll_s: float = 10.0,
           max_wait_s: float = 3600.0) -> dict[str, Any]:
    """The whole `kagglebench submit`; returns {"file","sha256","rows","ref","status","local_score"}."""
    from kagglebench.kaggle.formats import validate_csv

    if not message or not message.strip():
        raise UserError("-m", "give the submission a message (what changed), e.g. -m \"resnet18 + flip TTA\"")
    competition = competition or ws.competition
    if not competition:
        raise UserError("--competition", "no competition slug: pass --competition SLUG or set competition "
                                         "in kagglebench.toml")
    path, ens = make_csv(ws, ensemble=ensemble, run=run, file=file)
    rows = validate_csv(path, ws)  # before anything is sent
    digest = sha256_of(path)
    fields = _record_fields(ens)
    local = fields["ood_estimate"] if fields["ood_estimate"] is not None else fields["local_estimate"]
    log(f"{path}: {rows:,} rows, valid; local estimate: validation {_pct(fields['local_estimate'])}, "
        f"OOD {_pct(fields['ood_estimate'])}")
    line = detectability_line(ws, ens, competition, rows)
    if line:
        log(line)
    result = {"file": str(path), "sha256": digest, "rows": rows, "ref": None, "status": "dry-run",
              "local_score": local}
    base = dict(competition=competition, file=str(path), sha256=digest, rows=rows, message=message, **fields)
    if dry_run:
        key = ws.answer_key()
        if key and Path(key).exists():
            result["local_score"] = score_against_key(path, key)
            log(f"dry run: scored against the local answer key: {result['local_score']:.4f}")
        else:
            log("dry run: nothing was sent to Kaggle")
        with ws.store() as store:
            store.add_submission(status="dry-run", **base)
        return result
    return _send(ws, result, base, connect=connect, wait=wait, poll_s=poll_s, max_wait_s=max_wait_s)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.2f}%"


def _refuse_resend(ws: Any, kaggle: Any, comp: str, base: dict) -> None:
    """Never send the same file twice. When an earlier submit of these exact bytes broke off
    (`unknown`, or `pending` from a killed process) ask Kaggle first; refuse when a copy arrived
    (identical bytes score identically: a second copy only spends a daily submission)."""
    from kagglebench.kaggle.sync import sync_submissions

    def same(statuses: tuple[str, ...]) -> list[dict]:
        with ws.store() as store:
            return [s for s in store.list_submissions(comp) if s["sha256"] == base["sha256"]
                    and s["status"] in statuses]
    if same(("unknown", "pending")):
        log("an earlier submit of this same file broke off; asking Kaggle whether it arrived")
        sync_submissions(ws, kaggle, comp)
        with ws.store() as store:  # a `pending` record Kaggle does not list never arrived
            for rec in same(("pending",)):
                store.update_submission(rec["id"], status="failed", error="never reached Kaggle "
                                        "(checked before sending the file again)")
    arrived = [s for s in same(("submitted", "complete")) if s["ref"]]
    if arrived:
        raise UserError(base["file"], f"this exact file already reached Kaggle (ref {arrived[-1]['ref']}, "
                                      f"{arrived[-1]['status']}); not sending it twice (see "
                                      "`kagglebench submissions`)")


def _send(ws: Any, result: dict, base: dict, *, connect: Callable[[], Any] | None, wait: bool,
          poll_s: float, max_wait_s: float) -> dict[str, Any]:
    from kagglebench.kaggle import client as C

    kaggle = (connect or C.connect)()
    comp = base["competition"]
    _refuse_resend(ws, kaggle, comp, base)
    lim = kaggle.limits(comp)
    left = lim["num_allowed_now"]
    log(f"Kaggle: {left} submission(s) left today for {comp} ({lim['num_today']} used today)")
    if left <= 0:
        hint = (" (all counts are zero: have you joined the competition?)"
                if lim["num_today"] == 0 and lim["num_total"] == 0 else "")
        raise UserError(f"Kaggle {comp}", f"no submissions left today{hint}; Kaggle resets the daily count "
                                          f"at 00:00 UTC. The CSV is kept: {result['file']}")
    with ws.store() as store:
        sid = store.add_submission(status="pending", **base)
        try:
            ref = kaggle.submit(result["file"], base["message"], comp)
        except C.SubmitOutcomeUnknown:
            store.update_submission(sid, status="unknown", error="connection broke during the submit")
            raise UserError("Kaggle submit", "the connection broke while Kaggle was receiving the submission, "
                                             "so it may or may not have arrived. Do not submit again yet: run "
                                             "`kagglebench submissions --sync` to find out") from None
        except UserError as e:
            store.update_submission(sid, status="failed", error=e.what)
            raise
        store.update_submission(sid, status="submitted", ref=ref)
        result.update(ref=ref, status="submitted")
        log(f"submitted to {comp}: ref {ref}")
        if wait:
            _wait(kaggle, store, sid, result, poll_s, max_wait_s)
    return result


def _wait(kaggle: Any, store: Any, sid: int, result: dict, poll_s: float, max_wait_s: float) -> None:
    deadline = time.monotonic() + max_wait_s
    while True:
        sub = kaggle.get_submission(result["ref"])
        if sub["status"] != "pending":
            break
        if time.monotonic() > deadline:
            log("still being scored; check later with `kagglebench submissions --sync`")
            return
        time.sleep(poll_s)
    store.update_submission(sid, status=sub["status"], public_score=sub["public_score"],
                            private_score=sub["private_score"], error=sub["error_description"] or None,
                            kaggle_date=sub["date"])
    result["status"] = sub["status"]
    if sub["status"] == "error":
        raise UserError("Kaggle scoring", f"Kaggle could not score {Path(result['file']).name}: "
                                          f"{sub['error_description'] or 'no reason given'}")
    score, local = sub["public_score"], result["local_score"]
    log(f"public score {'n/a' if score is None else f'{score:.4f}'} "
        f"(local estimate {'n/a' if local is None else f'{local:.4f}'})")
