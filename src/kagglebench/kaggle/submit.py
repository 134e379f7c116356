"""`kagglebench submit`: make the CSV, validate it, show the odds, send it once, record it.

Order matters and is the point of this module: the CSV is written into the workspace's
`submissions/` and validated (kaggle.formats.validate_csv) before any call to Kaggle, so a
malformed file never costs a daily submission. Then, under a per-competition lock that every
process takes (the CLI, and the desktop app, which runs the CLI), so two submits never overlap:
earlier submits of the same bytes whose outcome is unknown are resolved against Kaggle's list;
a file Kaggle already has (scored, pending or rejected) is not sent again without `force`; the
store gets a `pending` record before the upload starts, so a process killed mid-submit leaves a
trace; any failure after CreateSubmission was sent and before its answer was read leaves the
record `unknown` (Kaggle may have it) for `submissions --sync` to resolve by file name, size
and message. CreateSubmission itself is never retried (kaggle/client.py).

`submit()` answers in data: the dict `submit --json` prints (file, sha256, rows, ref, status,
local_score, remaining_today, limited_by_total, detectable, members, ...).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglebench.errors import UserError

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

DEFAULT_PUBLIC_FRACTION = 0.5  # share of test rows Kaggle scores publicly, when kagglebench.toml is silent
LOCK_WAIT_S = 30 * 60  # how long a submit waits for another one to the same competition


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
    import pandas as pd

    opts = {"dtype": str, "keep_default_na": False, "encoding": "utf-8-sig"}
    truth = pd.read_csv(key, **opts).iloc[:, :2].set_axis(["id", "truth"], axis=1)
    mine = pd.read_csv(path, **opts).iloc[:, :2].set_axis(["id", "label"], axis=1)
    joined = mine.merge(truth, on="id", how="left")
    return float((joined["label"].str.strip() == joined["truth"].str.strip()).mean()) if len(joined) else 0.0


@contextlib.contextmanager
def submit_lock(ws: Workspace, competition: str, *, wait_s: float | None = LOCK_WAIT_S) -> Iterator[bool]:
    """The workspace's lock for submits to `competition`, across processes (an OS file lock:
    freed when its holder dies). Yields True once held; `wait_s=0` yields False at once when
    another process holds it; UserError when it is still held after `wait_s`."""
    from filelock import FileLock, Timeout

    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", competition)
    lock = FileLock(str(Path(ws.root) / f".submit-{safe}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait_s:
            yield False
            return
        log(f"another submit to {competition} is under way (the app or another terminal); waiting for it")
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            raise UserError(f"submit {competition}", f"another submit to this competition still holds "
                                                     f"{lock.lock_file} after {wait_s:.0f} s; retry when "
                                                     "it has finished") from None
    try:
        yield True
    finally:
        lock.release()


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


def detectability_vs_best(ws: Workspace, ens: Any, competition: str, rows: int) -> dict[str, Any] | None:
    """`detectability` of `ens` against the best previous submission with members, plus
    `against` (that submission's file name); None with nothing to compare against."""
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
    return {**detectability(new, old, int(rows * frac)), "against": Path(prev["file"]).name}


def detectability_line(r: dict[str, Any]) -> str:
    return (f"vs your best previous submission ({r['against']}): validation difference "
            f"{r['diff'] * 100:+.2f} pp, 95% interval on the public leaderboard ({r['public_rows']:,} rows) "
            f"[{r['low'] * 100:+.2f}, {r['high'] * 100:+.2f}] pp: {r['verdict']}")


def make_csv(ws: Workspace, *, ensemble: str | None = None, run: str | None = None, file: str | None = None,
             method: str = "mean") -> tuple[Path, Any]:
    """The CSV to send and the Ensemble behind it (None for --file). `method` (mean or greedy)
    says how `--ensemble topK` combines: the K best runs averaged, or Caruana's greedy selection
    among the 2K best checkpoints (members and weights recorded either way)."""
    from kagglebench import ensemble as E

    if sum(x is not None for x in (ensemble, run, file)) != 1:
        raise UserError("submit", "say what to submit: exactly one of --ensemble topK, --run RUN_ID or --file CSV")
    if file is not None:
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise UserError(file, "no such file")
        return path, None
    if ensemble is not None:
        m = re.fullmatch(r"top(\d+)", ensemble)
        if not m:
            raise UserError(f"--ensemble {ensemble}", "write it as topK, e.g. --ensemble top3")
        ens = E.from_request(ws, top=int(m.group(1)), method=method)
        name = f"ensemble-{ensemble}" + ("-greedy" if method == "greedy" else "")
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


def submit(ws: Workspace, *, message: str, ensemble: str | None = None, run: str | None = None,
           file: str | None = None, method: str = "mean", competition: str | None = None,
           dry_run: bool = False, wait: bool = False, force: bool = False,
           connect: Callable[[], Any] | None = None, poll_s: float = 10.0, max_wait_s: float = 3600.0,
           lock_wait_s: float = LOCK_WAIT_S) -> dict[str, Any]:
    """The whole `kagglebench submit`; returns what `submit --json` prints."""
    from kagglebench.kaggle.formats import validate_csv

    if not message or not message.strip():
        raise UserError("-m", "give the submission a message (what changed), e.g. -m \"resnet18 + flip TTA\"")
    if method not in ("mean", "greedy"):
        raise UserError("--method", f"{method!r} is not one of mean, greedy")
    if method != "mean" and ensemble is None:
        raise UserError("--method", "--method greedy chooses ensemble members: use it with --ensemble topK")
    competition = competition or ws.competition
    if not competition:
        raise UserError("--competition", "no competition slug: pass --competition SLUG or set competition "
                                         "in kagglebench.toml")
    path, ens = make_csv(ws, ensemble=ensemble, run=run, file=file, method=method)
    rows = validate_csv(path, ws)  # before anything is sent
    digest = sha256_of(path)
    fields = _record_fields(ens)
    local = fields["ood_estimate"] if fields["ood_estimate"] is not None else fields["local_estimate"]
    log(f"{path}: {rows:,} rows, valid; local estimate: validation {_pct(fields['local_estimate'])}, "
        f"OOD {_pct(fields['ood_estimate'])}")
    detectable = detectability_vs_best(ws, ens, competition, rows)
    if detectable:
        log(detectability_line(detectable))
    result = {"file": str(path), "sha256": digest, "rows": rows, "bytes": path.stat().st_size, "ref": None,
              "status": "dry-run", "local_score": local, "local_estimate": fields["local_estimate"],
              "ood_estimate": fields["ood_estimate"], "remaining_today": None, "limited_by_total": None,
              "detectable": detectable, "members": fields["members"],
              "method": method if ens is not None and ensemble else None, "message": message,
              "competition": competition, "public_score": None}
    base = dict(competition=competition, file=str(path), sha256=digest, rows=rows, bytes=result["bytes"],
                message=message, **fields)
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
    from kagglebench.kaggle import client as C

    kaggle = (connect or C.connect)()
    with submit_lock(ws, competition, wait_s=lock_wait_s):
        sid = _start(ws, kaggle, result, base, force)
        _upload(ws, kaggle, sid, result, base)
    if wait:
        _wait(ws, kaggle, sid, result, poll_s, max_wait_s)
    return result


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.2f}%"


def _refuse_resend(ws: Workspace, kaggle: Any, comp: str, base: dict, force: bool) -> None:
    """Never send the same file twice by accident. Earlier submits of these exact bytes whose
    outcome is unknown (`unknown`, or `pending` from a killed process: we hold the lock, so no
    live process owns it) are first resolved against Kaggle's list; then a copy Kaggle has
    (scored, still being scored, or rejected with a scoring error) refuses, unless `force`."""
    from kagglebench.kaggle.sync import sync_submissions

    def same(statuses: tuple[str, ...]) -> list[dict]:
        with ws.store() as store:
            return [s for s in store.list_submissions(comp) if s["sha256"] == base["sha256"]
                    and s["status"] in statuses]
    if same(("unknown", "pending")):
        log("an earlier submit of this same file broke off; asking Kaggle whether it arrived")
        sync_submissions(ws, kaggle, comp, settle_pending=True)
    arrived = [s for s in same(("submitted", "complete", "error")) if s["ref"]]
    if arrived and not force:
        last = arrived[-1]
        how = (f"Kaggle rejected it: {last['error'] or 'scoring error'}" if last["status"] == "error"
               else f"ref {last['ref']}, {last['status']}")
        raise UserError(base["file"], f"this exact file already reached Kaggle ({how}); not sending it twice "
                                      "(pass --force to send it anyway; see `kagglebench submissions`)")


def _start(ws: Workspace, kaggle: Any, result: dict, base: dict, force: bool) -> int:
    """Under the lock: the resend check, the limits, and the `pending` record; returns its id."""
    comp = base["competition"]
    _refuse_resend(ws, kaggle, comp, base, force)
    lim = kaggle.limits(comp)
    left = lim["num_allowed_now"]
    result.update(remaining_today=left, limited_by_total=lim["limited_by_total"])
    log(f"Kaggle: {left} submission(s) left today for {comp} ({lim['num_today']} used today"
        + (", capped by the competition's total limit)" if lim["limited_by_total"] else ")"))
    if left <= 0:
        if lim["limited_by_total"]:
            raise UserError(f"Kaggle {comp}", f"no submissions left: you have used all {lim['num_total']} "
                                              "submissions this competition allows in total (this does not "
                                              f"reset). The CSV is kept: {result['file']}")
        hint = (" (all counts are zero: have you joined the competition?)"
                if lim["num_today"] == 0 and lim["num_total"] == 0 else "")
        raise UserError(f"Kaggle {comp}", f"no submissions left today{hint}; Kaggle resets the daily count "
                                          f"at 00:00 UTC. The CSV is kept: {result['file']}")
    with ws.store() as store:
        return store.add_submission(status="pending", **base)


def _upload(ws: Workspace, kaggle: Any, sid: int, result: dict, base: dict) -> None:
    from kagglebench.kaggle.client import SubmitOutcomeUnknown

    comp = base["competition"]

    def record(**fields: Any) -> None:
        with ws.store() as store:
            store.update_submission(sid, **fields)
    try:
        ref = kaggle.submit(result["file"], base["message"], comp)
    except SubmitOutcomeUnknown as e:
        record(status="unknown", error=f"outcome unknown: {e}")
        result["status"] = "unknown"
        raise UserError("Kaggle CreateSubmission", f"{e}; Kaggle may or may not have recorded the submission. "
                                                   "Do not submit again yet: run `kagglebench submissions "
                                                   "--sync` to find out") from None
    except UserError as e:
        record(status="failed", error=e.what)
        raise
    except BaseException:  # interrupted (Ctrl-C) mid-submit: it may have arrived
        record(status="unknown", error="interrupted during the submit")
        raise
    record(status="submitted", ref=ref)
    result.update(ref=ref, status="submitted", remaining_today=max(result["remaining_today"] - 1, 0))
    log(f"submitted to {comp}: ref {ref}")


def _wait(ws: Workspace, kaggle: Any, sid: int, result: dict, poll_s: float, max_wait_s: float) -> None:
    deadline = time.monotonic() + max_wait_s
    while True:
        sub = kaggle.get_submission(result["ref"])
        if sub["status"] != "pending":
            break
        if time.monotonic() > deadline:
            log("still being scored; check later with `kagglebench submissions --sync`")
            return
        time.sleep(poll_s)
    with ws.store() as store:
        store.update_submission(sid, status=sub["status"], public_score=sub["public_score"],
                                private_score=sub["private_score"], error=sub["error_description"] or None,
                                kaggle_date=sub["date"])
    result.update(status=sub["status"], public_score=sub["public_score"])
    if sub["status"] == "error":
        raise UserError("Kaggle scoring", f"Kaggle could not score {Path(result['file']).name}: "
                                          f"{sub['error_description'] or 'no reason given'}")
    score, local = sub["public_score"], result["local_score"]
    log(f"public score {'n/a' if score is None else f'{score:.4f}'} "
        f"(local estimate {'n/a' if local is None else f'{local:.4f}'})")
