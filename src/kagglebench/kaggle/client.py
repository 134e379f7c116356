"""The official Kaggle client (`kaggle.api.kaggle_api_extended.KaggleApi`), wrapped for kagglebench.

Why a wrapper: the client prints to stdout (which must stay clean under `--json`), exits the
process when no credentials are found, never times out, and raises bare HTTP errors. Here each
failure becomes one `UserError` line a student can act on; calls that are safe to repeat (list,
get, limits, leaderboard) are retried with backoff on 429/5xx/connection errors; the submit is
never retried: when its connection breaks we cannot know whether Kaggle recorded it, so
`SubmitOutcomeUnknown` is raised and the caller records the submission as `unknown`.

Credentials are read by the client itself, in its order (KAGGLE_API_TOKEN or ~/.kaggle/access_token,
kaggle.json in $KAGGLE_CONFIG_DIR or ~/.kaggle, KAGGLE_USERNAME/KAGGLE_KEY); this module never
prints, logs or stores them. `import kaggle` authenticates at import time, so it is imported
lazily, inside `connect()`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kagglebench.errors import UserError

T = TypeVar("T")

NO_CREDENTIALS = (
    "no Kaggle credentials found. Create a token at https://www.kaggle.com/settings (API -> "
    "Create New Token) and save the downloaded kaggle.json as {path} (then `chmod 600 {path}`), "
    "or set KAGGLE_API_TOKEN, or KAGGLE_USERNAME and KAGGLE_KEY")
STATUS_HELP = {
    400: "Kaggle refused the request",
    401: "Kaggle rejected your credentials (401): the key in kaggle.json or KAGGLE_API_TOKEN is wrong "
         "or expired; create a new token at https://www.kaggle.com/settings",
    403: "Kaggle denied access (403): join the competition first (class competitions: open the invite "
         "link from your instructor) and accept its rules on the competition's web page",
    404: "Kaggle does not know this competition (404): check the slug (the last part of the "
         "competition's URL, e.g. kaggle.com/competitions/SLUG) with --competition or kagglebench.toml",
    429: "Kaggle is rate-limiting you (429): wait a few minutes and retry",
}
_RETRY_STATUS = {429, 500, 502, 503, 504}


class SubmitOutcomeUnknown(Exception):
    """The connection broke while Kaggle may have been recording the submission."""


def config_dir() -> Path:
    """Where the kaggle client looks for kaggle.json, by the same rule as the client."""
    d = os.environ.get("KAGGLE_CONFIG_DIR")
    if d:
        return Path(d)
    home = Path(os.path.expanduser("~"))
    if sys.platform.startswith("linux") and not (home / ".kaggle").exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"
    return home / ".kaggle"


def credentials_warning() -> str | None:
    """A warning when kaggle.json can be read by other users of this machine."""
    path = config_dir() / "kaggle.json"
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return f"warning: {path} is readable by other users of this machine; run `chmod 600 {path}`"
    return None


def _import_api() -> type:
    # Importing the package runs its own authenticate(), which prints to stdout.
    with contextlib.redirect_stdout(io.StringIO()):
        from kaggle.api.kaggle_api_extended import KaggleApi
    return KaggleApi


def _status_of(exc: BaseException) -> int | None:
    resp = getattr(exc, "response", None)
    return getattr(resp, "status_code", None)


def _is_connection_problem(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))


class KaggleClient:
    """An authenticated session with Kaggle. Build with `connect()`."""

    def __init__(self, api: Any, *, retries: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.api = api
        self.retries, self.backoff, self.sleep = retries, backoff, sleep

    @property
    def username(self) -> str | None:
        """The signed-in Kaggle user name (public, not a secret): finds my leaderboard row."""
        return self.api.config_values.get("username")

    # -- error handling -----------------------------------------------------------------
    def _explain(self, call: str, exc: BaseException) -> UserError:
        status = _status_of(exc)
        if status is not None:
            detail = str(exc).strip()
            base = STATUS_HELP.get(status, f"Kaggle answered HTTP {status}")
            if status in (400, 403) and detail:
                base += f" (Kaggle says: {detail})"
            return UserError(f"Kaggle {call}", base)
        if _is_connection_problem(exc):
            return UserError(f"Kaggle {call}", "could not reach Kaggle (connection failed or timed out); "
                                               "check your internet connection and retry")
        return UserError(f"Kaggle {call}", f"unexpected answer from Kaggle: {type(exc).__name__}: {exc}")

    def _call(self, call: str, fn: Callable[[], T]) -> T:
        """Run a call that is safe to repeat, with backoff on 429/5xx and connection errors."""
        for attempt in range(self.retries + 1):
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    return fn()
            except Exception as exc:  # noqa: BLE001 - the client raises many types
                retriable = _status_of(exc) in _RETRY_STATUS or _is_connection_problem(exc)
                if not retriable or attempt == self.retries:
                    raise self._explain(call, exc) from None
                delay = self.backoff * 2 ** attempt
                print(f"kagglebench: Kaggle {call} failed ({_status_of(exc) or 'connection'}); "
                      f"retrying in {delay:.0f} s", file=sys.stderr)
                self.sleep(delay)
        raise AssertionError("unreachable")

    # -- calls ------------------------------------------------------------------------------
    def limits(self, competition: str) -> dict[str, int]:
        r = self._call("submission limits", lambda: self.api.competition_get_submission_limits(competition))
        return {"num_today": r.num_today or 0, "num_total": r.num_total or 0,
                "num_allowed_now": r.num_allowed_now or 0}

    def submissions(self, competition: str) -> list[dict[str, Any]]:
        subs = self._call("list submissions",
                          lambda: self.api.competition_submissions(competition, page_size=100)) or []
        return [submission_dict(s) for s in subs if s is not None]

    def get_submission(self, ref: str | int) -> dict[str, Any]:
        def get() -> Any:
            from kagglesdk.competitions.types.competition_api_service import ApiGetSubmissionRequest

            with self.api.build_kaggle_client() as k:
                req = ApiGetSubmissionRequest()
                req.ref = int(ref)
                return k.competitions.competition_api_client.get_submission(req)
        return submission_dict(self._call("get submission", get))

    def leaderboard(self, competition: str) -> list[dict[str, Any]]:
        rows = self._call("leaderboard", lambda: self.api.competition_leaderboard_view(
            competition, page_size=200)) or []
        return [{"rank": i + 1, "team_id": r.team_id, "team": r.team_name,
                 "date": _iso(r.submission_date), "score": _score(r.score)}
                for i, r in enumerate(x for x in rows if x is not None)]

    def submit(self, path: str | Path, message: str, competition: str) -> str:
        """Upload and create one submission; returns Kaggle's ref. Never retried: a broken
        connection raises SubmitOutcomeUnknown (Kaggle may or may not have it)."""
        try:
            with contextlib.redirect_stdout(sys.stderr):
                resp = self.api.competition_submit(str(path), message, competition, quiet=True)
        except Exception as exc:  # noqa: BLE001
            if _is_connection_problem(exc):
                raise SubmitOutcomeUnknown(str(exc)) from None
            raise self._explain("submit", exc) from None
        ref = getattr(resp, "ref", None)
        if not ref:
            # The upload step failed (the client returns a message, no ref): nothing was created.
            raise UserError("Kaggle submit", f"the upload did not complete ({resp.message}); nothing was "
                                             "submitted, retry later")
        return str(ref)


def submission_dict(s: Any) -> dict[str, Any]:
    """A plain dict of one ApiSubmission (status lower-case, scores as floats or None)."""
    status = getattr(s.status, "name", str(s.status or "")).lower().replace("submission_status_", "")
    return {"ref": str(s.ref), "date": _iso(s.date), "description": s.description or "",
            "file_name": s.file_name or "", "status": status, "public_score": _score(s.public_score),
            "private_score": _score(s.private_score), "error_description": s.error_description or ""}


def _score(v: Any) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _iso(d: Any) -> str | None:
    if d is None:
        return None
    if isinstance(d, dt.datetime):
        return d.replace(tzinfo=None).isoformat(timespec="seconds")
    return str(d)


def connect(*, timeout: float = 60.0, retries: int = 4, backoff: float = 1.0,
            sleep: Callable[[float], None] = time.sleep) -> KaggleClient:
    """Authenticate the official client the way it authenticates itself; UserError when no
    credentials are found. `timeout` bounds every HTTP request (the client sets none)."""
    base = _import_api()
    from requests.adapters import HTTPAdapter

    class _TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, **kw: Any) -> Any:
            if kw.get("timeout") is None:
                kw["timeout"] = timeout
            return super().send(request, **kw)

    class Api(base):  # type: ignore[misc, valid-type]
        def build_kaggle_client(self) -> Any:
            client = super().build_kaggle_client()
            http = client.http_client()
            http._init_session()  # the session is private; mount a timeout on it
            http._session.mount("http://", _TimeoutAdapter())
            http._session.mount("https://", _TimeoutAdapter())
            return client

    api = Api()
    # The class reads these at import time; read them now so the current environment counts.
    api.config_dir = str(config_dir())
    api.config = os.path.join(api.config_dir, "kaggle.json")
    # Never "--verbose": the client would print request headers, credentials included.
    api.args = ["--local"] if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else []
    warning = credentials_warning()
    if warning:
        print(f"kagglebench: {warning}", file=sys.stderr)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api.authenticate()
    except SystemExit:
        raise UserError("Kaggle credentials", NO_CREDENTIALS.format(path=Path(api.config))) from None
    except Exception as exc:  # noqa: BLE001 - e.g. the token check could not reach Kaggle
        raise KaggleClient(api)._explain("sign-in", exc) from None
    return KaggleClient(api, retries=retries, backoff=backoff, sleep=sleep)
