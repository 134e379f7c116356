"""The official Kaggle client (`kaggle.api.kaggle_api_extended.KaggleApi`), wrapped for kagglebench.

Why a wrapper: the client prints to stdout (which must stay clean under `--json`), exits the
process when no credentials are found, never times out, reads one page of each list, and raises
bare HTTP errors. Here each failure becomes one `UserError` line a student can act on, naming
the call and, for credentials, where they came from.

Retries only where the protocol makes them safe: list, get, limits, leaderboard and
StartSubmissionUpload (it only opens an upload slot) are retried with backoff on 429/5xx and
connection errors; the PUT of the file to its upload URL is retried too (nothing exists on
Kaggle until CreateSubmission names the upload). CreateSubmission is never retried: any failure
after it was sent and before its answer was read (a 5xx, a broken connection, a timeout, a
malformed body) raises `SubmitOutcomeUnknown`, and the caller resolves it against Kaggle's list.
A 4xx answer is a refusal: Kaggle recorded nothing.

Timeouts: the PUT is ours (`upload.put_file`, put in through the client's public
`upload_complete` method). The RPC calls go through kagglesdk's requests session, which has no
timeout option: a timeout adapter is mounted on it (`_init_session`/`_session`, private), which
is why pyproject pins kaggle and kagglesdk to the versions tested (tests/kaggle/test_client.py).

Credentials are read by the client itself, in its order (KAGGLE_API_TOKEN or ~/.kaggle/access_token,
kaggle.json in $KAGGLE_CONFIG_DIR or ~/.kaggle, KAGGLE_USERNAME/KAGGLE_KEY); this module never
prints, logs or stores them. `import kaggle` authenticates at import time, so it is imported
lazily, inside `connect()`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from kagglebench.errors import UserError
from kagglebench.kaggle.upload import UploadFailed, put_file

T = TypeVar("T")

NO_CREDENTIALS = (
    "no Kaggle credentials found. Create a token at https://www.kaggle.com/settings (API -> "
    "Create New Token) and save the downloaded kaggle.json as {path} (then `chmod 600 {path}`), "
    "or set KAGGLE_API_TOKEN, or KAGGLE_USERNAME and KAGGLE_KEY")
STATUS_HELP = {
    400: "Kaggle refused the request",
    401: "Kaggle rejected your credentials (401): the key from {source} is wrong or expired; create a "
         "new token at https://www.kaggle.com/settings",
    403: "Kaggle denied access (403): join the competition first (class competitions: open the invite "
         "link from your instructor) and accept its rules on the competition's web page",
    404: "Kaggle does not know this competition (404): check the slug (the last part of the "
         "competition's URL, e.g. kaggle.com/competitions/SLUG) with --competition or kagglebench.toml",
    429: "Kaggle is rate-limiting you (429): wait a few minutes and retry",
}
_RETRY_STATUS = {429, 500, 502, 503, 504}
PAGE_SUBMISSIONS = 100
PAGE_LEADERBOARD = 200
MAX_PAGES = 1000


class SubmitOutcomeUnknown(Exception):
    """CreateSubmission was sent but its answer was never read: Kaggle may have recorded it."""


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


def _broken_kaggle_json(path: Path) -> UserError | None:
    """Why kaggle.json cannot be used (the client silently ignores a broken one), or None."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return UserError(path, f"is not valid JSON (truncated or edited by hand? {type(e).__name__}: "
                               f"{str(e)[:80]}); download a new token at https://www.kaggle.com/settings")
    if not isinstance(data, dict) or not data.get("username") or not data.get("key"):
        return UserError(path, "has no \"username\" and \"key\" entries; download a new token at "
                               "https://www.kaggle.com/settings")
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


def _retriable(exc: BaseException) -> bool:
    return _status_of(exc) in _RETRY_STATUS or _is_connection_problem(exc)


def _kaggle_says(exc: BaseException) -> str:
    """Kaggle's own message of an HTTP error (its JSON `message`, else the reason), one line."""
    resp = getattr(exc, "response", None)
    text = ""
    with contextlib.suppress(Exception):
        text = str(resp.json().get("message") or "")
    if not text:
        text = str(exc).split(" for url:")[0]
    return " ".join(text.split())[:200]


class KaggleClient:
    """An authenticated session with Kaggle. Build with `connect()`."""

    def __init__(self, api: Any, *, retries: int = 4, backoff: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, source: str = "kaggle.json") -> None:
        self.api = api
        self.retries, self.backoff, self.sleep = retries, backoff, sleep
        self.source = source  # where the credentials came from, for the 401 line

    @property
    def username(self) -> str | None:
        """The signed-in Kaggle user name (public, not a secret): finds my leaderboard row."""
        return self.api.config_values.get("username")

    # -- error handling -----------------------------------------------------------------
    def _explain(self, call: str, exc: BaseException, tail: str = "") -> UserError:
        status = _status_of(exc)
        if status is not None:
            base = STATUS_HELP.get(status, f"Kaggle answered HTTP {status}").format(source=self.source)
            detail = _kaggle_says(exc)
            if detail:
                base += f" (Kaggle says: {detail})"
            return UserError(f"Kaggle {call}", base + tail)
        if _is_connection_problem(exc):
            return UserError(f"Kaggle {call}", "could not reach Kaggle (connection failed or timed out); "
                                               "check your internet connection and retry" + tail)
        return UserError(f"Kaggle {call}", f"unexpected answer from Kaggle: {type(exc).__name__}: "
                                           f"{' '.join(str(exc).split())[:200]}" + tail)

    def _wait_before_retry(self, call: str, exc: BaseException, attempt: int) -> None:
        delay = self.backoff * 2 ** attempt
        print(f"kagglebench: Kaggle {call} failed ({_status_of(exc) or 'connection'}); "
              f"retrying in {delay:.0f} s", file=sys.stderr)
        self.sleep(delay)

    def _call(self, call: str, fn: Callable[[], T]) -> T:
        """Run a call that is safe to repeat, with backoff on 429/5xx and connection errors."""
        for attempt in range(self.retries + 1):
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    return fn()
            except Exception as exc:  # noqa: BLE001 - the client raises many types
                if not _retriable(exc) or attempt == self.retries:
                    raise self._explain(call, exc) from None
                self._wait_before_retry(call, exc, attempt)
        raise AssertionError("unreachable")

    def _pages(self, call: str, fetch: Callable[[str], Any], field: str) -> list[Any]:
        """Every item of a paged list: `fetch(page_token)` until Kaggle sends no next token."""
        items: list[Any] = []
        token, seen = "", set()
        for _ in range(MAX_PAGES):
            resp = self._call(call, lambda t=token: fetch(t))
            items += [x for x in (getattr(resp, field) or []) if x is not None]
            token = resp.next_page_token or ""
            if not token:
                return items
            if token in seen:
                raise UserError(f"Kaggle {call}", f"Kaggle sent page token {token!r} twice; stopping "
                                                  f"after {len(items)} rows")
            seen.add(token)
        raise UserError(f"Kaggle {call}", f"more than {MAX_PAGES} pages; stopping after {len(items)} rows")

    def _sdk(self) -> Any:
        return self.api.build_kaggle_client()

    # -- calls ------------------------------------------------------------------------------
    def limits(self, competition: str) -> dict[str, Any]:
        r = self._call("submission limits", lambda: self.api.competition_get_submission_limits(competition))
        return {"num_today": r.num_today or 0, "num_total": r.num_total or 0,
                "num_allowed_now": r.num_allowed_now or 0, "limited_by_total": bool(r.limited_by_total)}

    def submissions(self, competition: str) -> list[dict[str, Any]]:
        """All my submissions, every page (the client's `competition_submissions` reads one page
        and drops the next-page token, so this makes the same ListSubmissions call itself)."""
        from kagglesdk.competitions.types.competition_api_service import ApiListSubmissionsRequest
        from kagglesdk.competitions.types.competition_enums import SubmissionGroup, SubmissionSortBy

        def fetch(token: str) -> Any:
            req = ApiListSubmissionsRequest()
            req.competition_name = competition
            req.group = SubmissionGroup.SUBMISSION_GROUP_ALL
            req.sort_by = SubmissionSortBy.SUBMISSION_SORT_BY_DATE
            req.page_size = PAGE_SUBMISSIONS
            if token:
                req.page_token = token
            else:
                req.page = 1
            with self._sdk() as k:
                return k.competitions.competition_api_client.list_submissions(req)
        return [submission_dict(s) for s in self._pages("list submissions", fetch, "submissions")]

    def get_submission(self, ref: str | int) -> dict[str, Any]:
        def get() -> Any:
            from kagglesdk.competitions.types.competition_api_service import ApiGetSubmissionRequest

            with self._sdk() as k:
                req = ApiGetSubmissionRequest()
                req.ref = int(ref)
                return k.competitions.competition_api_client.get_submission(req)
        return submission_dict(self._call("get submission", get))

    def leaderboard(self, competition: str) -> list[dict[str, Any]]:
        """The whole public leaderboard, every page, ranked by position (the client's
        `competition_leaderboard_view` reads one page and prints its token to stdout)."""
        from kagglesdk.competitions.types.competition_api_service import ApiGetLeaderboardRequest

        def fetch(token: str) -> Any:
            req = ApiGetLeaderboardRequest()
            req.competition_name = competition
            req.page_size = PAGE_LEADERBOARD
            req.page_token = token
            with self._sdk() as k:
                return k.competitions.competition_api_client.get_leaderboard(req)
        rows = self._pages("leaderboard", fetch, "submissions")
        return [{"rank": i + 1, "team_id": r.team_id, "team": r.team_name,
                 "date": _iso(r.submission_date), "score": _score(r.score)} for i, r in enumerate(rows)]

    def list_files(self, competition: str) -> list[dict[str, Any]]:
        """The competition's data files (name, bytes), every page, via `competition_list_files`."""
        files = self._pages("list data files", lambda t: self.api.competition_list_files(
            competition, page_token=t or None, page_size=200), "files")
        return [{"name": f.name, "bytes": int(f.total_bytes or 0)} for f in files]

    def download_all(self, competition: str, folder: Path) -> Path:
        """`competition_download_files` into `folder` (the client streams it to disk, retries and
        resumes a partial file itself); returns the downloaded archive."""
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                self.api.competition_download_files(competition, path=str(folder), quiet=False)
        except Exception as exc:  # noqa: BLE001
            raise self._explain("download data files", exc, tail="; the part already downloaded is "
                                "kept, run the same command again to resume") from None
        got = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".kaggle-partial"))
        if not got:
            raise UserError("Kaggle download data files", f"nothing was downloaded into {folder}")
        return got[0]

    def submit(self, path: str | Path, message: str, competition: str) -> str:
        """StartSubmissionUpload, PUT, CreateSubmission through `competition_submit`; returns Kaggle's
        ref. The first two steps create nothing on Kaggle and are retried; CreateSubmission is not:
        see the module docstring."""
        name = Path(path).name
        for attempt in range(self.retries + 1):
            self.api.submit_stage = "start"
            try:
                with contextlib.redirect_stdout(sys.stderr):
                    resp = self.api.competition_submit(str(path), message, competition, quiet=True)
            except UploadFailed as e:
                raise UserError("Kaggle upload", f"the upload of {name} failed ({e}); nothing was submitted "
                                                 "(CreateSubmission was never sent), so it is safe to submit "
                                                 "again") from None
            except Exception as exc:  # noqa: BLE001
                if self.api.submit_stage == "start":
                    if _retriable(exc) and attempt < self.retries:
                        self._wait_before_retry("StartSubmissionUpload", exc, attempt)
                        continue
                    raise self._explain("StartSubmissionUpload", exc, tail="; nothing was sent, so it is safe "
                                        "to submit again") from None
                status = _status_of(exc)
                if status is not None and 400 <= status < 500 and status != 408:
                    raise self._explain("CreateSubmission", exc, tail="; Kaggle recorded nothing") from None
                raise SubmitOutcomeUnknown(self._explain("CreateSubmission", exc).what) from None
            ref = getattr(resp, "ref", None)
            if not ref:
                raise SubmitOutcomeUnknown(f"Kaggle's answer to CreateSubmission holds no submission ref "
                                           f"({getattr(resp, 'message', '') or 'empty'})")
            return str(ref)
        raise AssertionError("unreachable")


def submission_dict(s: Any) -> dict[str, Any]:
    """A plain dict of one ApiSubmission (status lower-case, scores as floats or None)."""
    status = getattr(s.status, "name", str(s.status or "")).lower().replace("submission_status_", "")
    return {"ref": str(s.ref), "date": _iso(s.date), "description": s.description or "",
            "file_name": s.file_name or "", "bytes": int(s.total_bytes or 0) or None, "status": status,
            "public_score": _score(s.public_score), "private_score": _score(s.private_score),
            "error_description": s.error_description or ""}


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


def _credential_source(api: Any) -> str:
    """Where the client found the credentials it signed in with (a name or a path, no secret)."""
    method = str(api.config_values.get("auth_method", ""))
    if method == "ACCESS_TOKEN":
        from kagglesdk.kaggle_env import get_access_token_from_env

        src = get_access_token_from_env()[1]
        return "KAGGLE_API_TOKEN" if src == "KAGGLE_API_TOKEN" else "~/.kaggle/access_token"
    if method == "OAUTH":
        return "the OAuth credentials saved by `kaggle auth login`"
    if os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    return str(api.config)


def connect(*, timeout: float = 60.0, retries: int = 4, backoff: float = 1.0,
            sleep: Callable[[float], None] = time.sleep) -> KaggleClient:
    """Authenticate the official client the way it authenticates itself; UserError when no
    credentials are found. `timeout` bounds every HTTP request (the client sets none)."""
    base = _import_api()
    from kaggle.models.kaggle_models_extended import ResumableUploadResult
    from requests.adapters import HTTPAdapter

    class _TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, **kw: Any) -> Any:
            if kw.get("timeout") is None:
                kw["timeout"] = timeout
            return super().send(request, **kw)

    class Api(base):  # type: ignore[misc, valid-type]
        submit_stage = "start"  # which step of competition_submit is under way

        def build_kaggle_client(self) -> Any:
            client = super().build_kaggle_client()
            http = client.http_client()
            http._init_session()  # private (versions pinned in pyproject): mount a timeout on it
            http._session.mount("http://", _TimeoutAdapter())
            http._session.mount("https://", _TimeoutAdapter())
            return client

        def upload_complete(self, path: str, url: str, quiet: bool, resume: bool = False) -> int:
            # The client's own PUT builds a session without a timeout; this one has one.
            self.submit_stage = "upload"
            put_file(path, url, timeout=timeout, retries=retries, backoff=backoff, sleep=sleep)
            self.submit_stage = "create"
            return ResumableUploadResult.COMPLETE

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
        broken = _broken_kaggle_json(Path(api.config))
        raise broken or UserError("Kaggle credentials", NO_CREDENTIALS.format(path=Path(api.config))) from None
    except Exception as exc:  # noqa: BLE001 - e.g. the token check could not reach Kaggle
        raise KaggleClient(api)._explain("sign-in", exc) from None
    return KaggleClient(api, retries=retries, backoff=backoff, sleep=sleep, source=_credential_source(api))
