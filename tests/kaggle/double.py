"""A local stand-in for Kaggle's competition API, so the real `kaggle` client can be tested offline.

`KaggleDouble` is an HTTP server on 127.0.0.1 (random port, daemon thread) that speaks the wire
protocol of REFERENCE.md section 3: `POST /api/v1/competitions.CompetitionApiService/{Method}`
with camelCase JSON, Basic (username:key) or Bearer (token, checked by
`security.OAuthService/IntrospectToken`) auth, the three-step upload
(StartSubmissionUpload -> PUT createUrl -> CreateSubmission), error bodies `{code, message}`.
It keeps the uploaded bytes, scores CSVs against an answer key, enforces a daily limit and
injects faults per method:

    with KaggleDouble(answer_key={"a": "0", ...}) as kd:
        kd.install(monkeypatch)                  # this process talks to it (env + endpoint table)
        kd.fail("CreateSubmission", status=503)  # next call answers 503
        kd.drop("CreateSubmission")              # next call is processed, then the socket is cut
        kd.slow("ListSubmissions", seconds=3)    # next call answers after 3 s
        kd.fail("CreateSubmission", 503, process=True)  # recorded, then answered 503
        kd.garble("CreateSubmission")            # recorded, then answered with a broken body
        kd.hold("PUT")                           # next call waits until kd.release()
        kd.cut_download(after=1000)              # the data zip stops after 1,000 bytes
        env = kd.subprocess_env(tmp_path)        # for `python -m kagglebench ...` children

Lists are paged as Kaggle pages them (`page_cap` rows at most, `nextPageToken`); the
competition's data (`files=`: a zip's bytes) is listed by ListDataFiles and served by
DownloadDataFiles as a redirect to a GET URL that honours Range requests (resumable).

The real client does all the talking: tests point it here by setting
KAGGLE_API_ENVIRONMENT=LOCALHOST and the LOCAL entry of `kagglesdk.kaggle_env._env_to_endpoint`.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SERVICE = "competitions.CompetitionApiService"
USERNAME = "student-double"
KEY = "k3y-d0uble-5ecret-0123456789abcdef"  # fake; tests grep outputs for it
TOKEN = "t0ken-d0uble-5ecret-fedcba9876543210"


@dataclass
class _Fault:
    kind: str  # "status" | "drop" | "slow" | "garble" | "hold" | "cut"
    times: int
    status: int = 500
    message: str = ""
    seconds: float = 0.0
    process: bool = True  # drop/status: handle the call first (the server commits), then fail
    after: int = 0  # cut/hold of a download: bytes sent first


@dataclass
class Submission:
    ref: int
    file_name: str
    description: str
    date: dt.datetime
    data: bytes
    status: str = "PENDING"
    public_score: str = ""
    private_score: str = ""
    error_description: str = ""
    polls: int = 0
    team: str = "me"
    final_status: str = "COMPLETE"
    final_public: str = ""
    final_private: str = ""


@dataclass
class Request:
    method: str  # the RPC name, or "PUT" for an upload
    path: str
    body: Any
    auth: str | None  # "basic", "bearer" or None
    raw_auth: str | None = field(default=None, repr=False)
    headers: dict = field(default_factory=dict, repr=False)


def _utcnow() -> dt.datetime:
    """Naive UTC, as Kaggle's dates arrive (ISO with a Z)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _iso(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


class KaggleDouble:
    """Kaggle's competition API on 127.0.0.1, for one competition and one user."""

    def __init__(self, *, competition: str = "demo-competition", answer_key: dict[str, str] | str | Path
                 | None = None, id_col: str = "id", label_col: str = "label", daily_limit: int = 5,
                 polls_until_scored: int = 1, public_fraction: float = 0.5, username: str = USERNAME,
                 key: str = KEY, token: str = TOKEN, joined: bool = True,
                 leaderboard: list[tuple[str, float]] | None = None, page_cap: int = 100,
                 total_limit: int | None = None, files: bytes | None = None,
                 file_names: dict[str, int] | None = None) -> None:
        self.competition = competition
        self.id_col, self.label_col = id_col, label_col
        self.answers = self._load_key(answer_key)
        self.daily_limit = daily_limit
        self.polls_until_scored = polls_until_scored
        self.public_fraction = public_fraction
        self.username, self.key, self.token = username, key, token
        self.joined = joined
        self.others = list(leaderboard or [("Team Alpha", 0.61), ("Team Beta", 0.42)])
        self.page_cap = page_cap
        self.total_limit = total_limit
        self.zip = files  # the competition's data, as the one zip DownloadDataFiles serves
        self.file_names = dict(file_names or {})  # what ListDataFiles lists: name -> bytes
        self.download_etag = '"' + secrets.token_hex(6) + '"'
        self.served_bytes = 0  # bytes of the zip sent so far (all GETs)
        self._released = threading.Event()
        self.uploads: dict[str, bytes] = {}
        self.pending_uploads: dict[str, dict] = {}
        self.submissions: list[Submission] = []
        self.requests: list[Request] = []
        self.next_scoring_error: str | None = None
        self._faults: dict[str, list[_Fault]] = {}
        self._lock = threading.RLock()
        self._next_ref = 50_000_001
        self._server: ThreadingHTTPServer | None = None
        self._port = 0
        self._thread: threading.Thread | None = None
        self._restore: list[tuple[Any, Any, Any]] = []

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> KaggleDouble:
        handler = type("Handler", (_Handler,), {"double": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._port = self._server.server_address[1]  # kept: a slow handler may finish after stop()
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="kaggle-double",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()  # never leave a held handler waiting
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
        self.uninstall()

    def __enter__(self) -> KaggleDouble:  # noqa: PYI034
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- pointing the real client here ------------------------------------------------
    def install(self, monkeypatch: Any = None) -> None:
        """Point this process's kaggle client here. With pytest's monkeypatch, undone after the
        test; without, undone by `stop()`."""
        from kagglesdk import kaggle_env

        if monkeypatch is not None:
            monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
            monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.LOCAL, self.endpoint)
            return
        self._restore.append((os.environ, "KAGGLE_API_ENVIRONMENT",
                              os.environ.get("KAGGLE_API_ENVIRONMENT")))
        self._restore.append((kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.LOCAL,
                              kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.LOCAL]))
        os.environ["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
        kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.LOCAL] = self.endpoint

    def uninstall(self) -> None:
        for table, k, old in reversed(self._restore):
            if old is None:
                table.pop(k, None)
            else:
                table[k] = old
        self._restore.clear()

    def subprocess_env(self, folder: str | Path, base: dict | None = None) -> dict[str, str]:
        """Environment for a child Python that should talk to this double: KAGGLE_API_ENVIRONMENT
        and a sitecustomize.py (in `folder`) that patches the child's endpoint table at start-up."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "sitecustomize.py").write_text(
            "import os\n"
            "if os.environ.get('KAGGLE_DOUBLE_ENDPOINT'):\n"
            "    from kagglesdk import kaggle_env\n"
            "    kaggle_env._env_to_endpoint[kaggle_env.KaggleEnv.LOCAL] = "
            "os.environ['KAGGLE_DOUBLE_ENDPOINT']\n")
        env = dict(os.environ if base is None else base)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
        env["KAGGLE_API_ENVIRONMENT"] = "LOCALHOST"
        env["KAGGLE_DOUBLE_ENDPOINT"] = self.endpoint
        return env

    def write_credentials(self, config_dir: str | Path, mode: int = 0o600) -> Path:
        """A kaggle.json for this double's user in `config_dir` (use as KAGGLE_CONFIG_DIR)."""
        config_dir = Path(config_dir)
        config_dir.mkdir(parents=True, exist_ok=True)
        path = config_dir / "kaggle.json"
        path.write_text(json.dumps({"username": self.username, "key": self.key}))
        path.chmod(mode)
        return path

    # -- fault injection ----------------------------------------------------------------
    def fail(self, method: str, status: int = 500, times: int = 1, message: str | None = None,
             process: bool = False) -> None:
        """The next `times` calls of `method` answer `status` with a Kaggle error body; with
        `process`, after handling them (the server committed, as a 5xx from a proxy can be)."""
        self._add(method, _Fault("status", times, status=status, process=process,
                                 message=message or _MESSAGES.get(status, "Internal error")))

    def drop(self, method: str, times: int = 1, process: bool = True) -> None:
        """Cut the connection on the next `times` calls of `method`, after handling them
        (`process=True`: the server has committed, the client never hears) or before."""
        self._add(method, _Fault("drop", times, process=process))

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next `times` calls of `method` only after `seconds`."""
        self._add(method, _Fault("slow", times, seconds=seconds))

    def garble(self, method: str, times: int = 1) -> None:
        """Handle the next `times` calls of `method` (the server commits), then answer 200 with a
        body that is not the JSON the client expects."""
        self._add(method, _Fault("garble", times))

    def hold(self, method: str, times: int = 1) -> None:
        """The next `times` calls of `method` (or GETs of the data zip, method "download", after
        `after` bytes: see `stall_download`) wait until `release()`."""
        self._released.clear()
        self._add(method, _Fault("hold", times))

    def release(self) -> None:
        self._released.set()

    def cut_download(self, after: int, times: int = 1) -> None:
        """The next `times` GETs of the data zip send `after` bytes, then cut the connection."""
        self._add("download", _Fault("cut", times, after=after))

    def stall_download(self, after: int) -> None:
        """The next GET of the data zip sends `after` bytes, then waits until `release()`."""
        self._released.clear()
        self._add("download", _Fault("hold", 1, after=after))

    def fail_scoring(self, description: str) -> None:
        """The next submission ends in status ERROR with this errorDescription."""
        self.next_scoring_error = description

    def _add(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    # -- what tests look at ---------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    def add_external(self, file_name: str, description: str, public: str, *, minutes_ago: float | None = None,
                     private: str = "", data: bytes = b"id,label\nx,0\n") -> Submission:
        """A submission made on the website, outside kagglebench: `minutes_ago`, or by default
        earlier today (UTC, Kaggle's day: up to an hour ago, but never before midnight, so a test
        run just after midnight still counts it among today's submissions)."""
        now = _utcnow()
        if minutes_ago is None:
            since_midnight = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
            minutes_ago = min(60.0, since_midnight / 2)
        with self._lock:
            sub = Submission(self._new_ref(), file_name, description,
                             now - dt.timedelta(minutes=minutes_ago), data,
                             status="COMPLETE", public_score=public, private_score=private)
            self.submissions.append(sub)
            return sub

    def reveal_private(self) -> None:
        with self._lock:
            for s in self.submissions:
                if s.status == "COMPLETE":
                    s.private_score = s.final_private or s.private_score

    def _new_ref(self) -> int:
        self._next_ref += 1
        return self._next_ref

    # -- scoring ----------------------------------------------------------------------------
    def _load_key(self, key: dict[str, str] | str | Path | None) -> dict[str, str]:
        if key is None or isinstance(key, dict):
            return dict(key or {})
        with open(key, newline="") as f:
            return {r[self.id_col]: r[self.label_col] for r in csv.DictReader(f)}

    def _score(self, data: bytes) -> tuple[str, str, str, str]:
        """(status, public, private, errorDescription) for an uploaded CSV, as Kaggle scores it."""
        if self.next_scoring_error:
            err, self.next_scoring_error = self.next_scoring_error, None
            return "ERROR", "", "", err
        try:
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
        except UnicodeDecodeError:
            return "ERROR", "", "", "Submission file is not valid UTF-8 text"
        if not rows or self.id_col not in rows[0]:
            return "ERROR", "", "", f"Required column '{self.id_col}' could not be found"
        if self.label_col not in rows[0]:
            return "ERROR", "", "", f"Required column '{self.label_col}' could not be found"
        if len(rows) != len(self.answers):
            return "ERROR", "", "", f"Submission must have {len(self.answers)} rows"
        ids = sorted(self.answers)
        public = set(ids[: round(len(ids) * self.public_fraction)])
        hits = {True: [0, 0], False: [0, 0]}
        for r in rows:
            truth = self.answers.get(r[self.id_col])
            if truth is None:
                return "ERROR", "", "", f"Unexpected id '{r[self.id_col]}'"
            h = hits[r[self.id_col] in public]
            h[0] += str(r[self.label_col]).strip() == truth
            h[1] += 1
        pub, priv = (f"{h[0] / max(h[1], 1):.5f}" for h in (hits[True], hits[False]))
        return "COMPLETE", pub, priv, ""

    # -- RPC methods (called by the handler under the lock) ---------------------------------
    def rpc(self, method: str, body: dict, auth_ok: bool) -> tuple[int, dict]:
        if method == "IntrospectToken":
            ok = body.get("token") == self.token
            return 200, ({"active": True, "username": self.username} if ok else {"active": False})
        if not auth_ok:
            return 401, {"code": 401, "message": "Unauthenticated: the API key is missing or invalid"}
        if method == "GetSubmission":
            sub = next((s for s in self.submissions if s.ref == int(body.get("ref", 0))), None)
            if sub is None:
                return 404, {"code": 404, "message": f"Submission {body.get('ref')} not found"}
            self._poll(sub)
            return 200, self._sub_json(sub)
        comp = body.get("competitionName")
        if comp != self.competition:
            return 404, {"code": 404, "message": f"Competition '{comp}' not found"}
        if not self.joined and method != "GetLeaderboard":
            return 403, {"code": 403, "message": "You must accept this competition's rules before "
                                                 "you'll be able to submit."}
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            return 404, {"code": 404, "message": f"Unknown method {method}"}
        return handler(body)

    def _rpc_StartSubmissionUpload(self, body: dict) -> tuple[int, dict]:
        token = secrets.token_hex(8)
        self.pending_uploads[token] = dict(body)
        return 200, {"token": token, "createUrl": f"{self.endpoint}/upload/{token}"}

    def _rpc_CreateSubmission(self, body: dict) -> tuple[int, dict]:
        token = body.get("blobFileTokens")
        if token not in self.uploads:
            return 400, {"code": 400, "message": "Blob file token is invalid or the upload never completed"}
        today = _utcnow().date()
        if sum(s.date.date() == today and s.team == "me" for s in self.submissions) >= self.daily_limit:
            return 400, {"code": 400, "message": f"Your team has used its {self.daily_limit} "
                                                 "submissions for today"}
        data = self.uploads[token]
        status, pub, priv, err = self._score(data)
        sub = Submission(self._new_ref(), self.pending_uploads[token].get("fileName", ""),
                         body.get("submissionDescription", ""), _utcnow(), data,
                         final_status=status, final_public=pub, final_private=priv,
                         error_description=err)
        self.submissions.append(sub)
        self._poll(sub, count=False)
        return 200, {"message": "Successfully submitted to " + self.competition, "ref": sub.ref}

    def _page(self, items: list, body: dict, default: int = 20) -> tuple[list, dict]:
        """One page of `items` as Kaggle pages lists: pageSize capped, offset tokens."""
        size = max(1, min(int(body.get("pageSize") or default), self.page_cap))
        start = int(body.get("pageToken") or 0)
        more = start + size < len(items)
        return items[start:start + size], ({"nextPageToken": str(start + size)} if more else {})

    def _rpc_ListSubmissions(self, body: dict) -> tuple[int, dict]:
        mine = [s for s in self.submissions if s.team == "me"]
        for s in mine:
            self._poll(s)
        mine.sort(key=lambda s: s.date, reverse=True)
        page, token = self._page(mine, body)
        return 200, {"submissions": [self._sub_json(s) for s in page], **token}

    def _rpc_GetSubmissionLimits(self, body: dict) -> tuple[int, dict]:
        today = _utcnow().date()
        mine = [s for s in self.submissions if s.team == "me"]
        n_today = sum(s.date.date() == today for s in mine)
        allowed = max(self.daily_limit - n_today, 0)
        by_total = self.total_limit is not None and self.total_limit - len(mine) < allowed
        if by_total:
            allowed = max(self.total_limit - len(mine), 0)
        return 200, {"numToday": n_today, "numTotal": len(mine), "numAllowedNow": allowed,
                     "limitedByTotal": by_total}

    def _rpc_ListDataFiles(self, body: dict) -> tuple[int, dict]:
        files = [{"name": n, "totalBytes": b, "creationDate": "2026-01-05T10:00:00.000Z"}
                 for n, b in sorted(self.file_names.items())]
        page, token = self._page(files, body)
        return 200, {"files": page, **token}

    def _rpc_DownloadDataFiles(self, body: dict) -> tuple[int, dict]:
        if self.zip is None:
            return 404, {"code": 404, "message": "This competition has no data files"}
        return 302, {"location": f"{self.endpoint}/download/{self.competition}.zip?sig={secrets.token_hex(4)}"}

    def _rpc_GetLeaderboard(self, body: dict) -> tuple[int, dict]:
        now = _utcnow()
        rows = [(team, score, now - dt.timedelta(hours=i + 1)) for i, (team, score) in enumerate(self.others)]
        scored = [s for s in self.submissions if s.team == "me" and s.status == "COMPLETE" and s.public_score]
        if scored:
            best = max(scored, key=lambda s: float(s.public_score))
            rows.append((self.username, float(best.public_score), best.date))
        rows.sort(key=lambda r: r[1], reverse=True)
        page, token = self._page([{"teamId": 1000 + i, "teamName": t, "submissionDate": _iso(d),
                                   "score": f"{s:.5f}"} for i, (t, s, d) in enumerate(rows)], body)
        return 200, {"submissions": page, **token}

    def _poll(self, sub: Submission, count: bool = True) -> None:
        if sub.status != "PENDING":
            return
        sub.polls += count
        if sub.polls >= self.polls_until_scored:
            sub.status, sub.public_score = sub.final_status, sub.final_public

    @staticmethod
    def _sub_json(s: Submission) -> dict:
        d = {"ref": s.ref, "date": _iso(s.date), "description": s.description, "fileName": s.file_name,
             "status": s.status, "totalBytes": len(s.data), "submittedBy": "me", "teamName": s.team}
        if s.status == "ERROR":
            d["errorDescription"] = s.error_description
        if s.public_score:
            d["publicScore"] = s.public_score
        if s.private_score:
            d["privateScore"] = s.private_score
        return d


_MESSAGES = {
    400: "Bad request",
    401: "Unauthenticated: the API key is missing or invalid",
    403: "Permission 'competitions.participate' was denied",
    404: "Competition not found",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class _Handler(BaseHTTPRequestHandler):
    double: KaggleDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def _auth(self) -> tuple[str | None, bool]:
        d, header = self.double, self.headers.get("Authorization") or ""
        if header.startswith("Basic "):
            try:
                user, _, key = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return "basic", False
            return "basic", (user, key) == (d.username, d.key)
        if header.startswith("Bearer "):
            return "bearer", header[7:] == d.token
        return None, False

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, payload: dict | bytes) -> None:
        if status in (301, 302):
            self.send_response(status)
            self.send_header("Location", payload["location"])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # the data zip behind DownloadDataFiles' redirect
        d = self.double
        with d._lock:
            d.requests.append(Request("GET", self.path, None, None, headers=dict(self.headers)))
        if not self.path.startswith(f"/download/{d.competition}.zip") or d.zip is None:
            return self._send(404, {"code": 404, "message": "No such file"})
        data, start = d.zip, 0
        rng = self.headers.get("Range") or ""
        if rng.startswith("bytes=") and self.headers.get("If-Range", d.download_etag) == d.download_etag:
            start = int(rng[6:].split("-")[0] or 0)
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", d.download_etag)
        self.send_header("Last-Modified", "Mon, 05 Jan 2026 10:00:00 GMT")
        self.end_headers()
        fault = d._take_fault("download")
        try:
            if fault is not None:
                part = data[start:start + fault.after]
                self.wfile.write(part)
                self.wfile.flush()
                with d._lock:
                    d.served_bytes += len(part)
                if fault.kind == "cut":
                    return self._cut()
                d._released.wait(timeout=120)
                start += len(part)
            for i in range(start, len(data), 1 << 16):
                self.wfile.write(data[i:i + (1 << 16)])
                with d._lock:
                    d.served_bytes += len(data[i:i + (1 << 16)])
        except OSError:  # the client went away (killed mid-download)
            self.close_connection = True

    def _cut(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_PUT(self) -> None:  # the upload step: raw bytes, no auth
        data = self._body()
        token = self.path.rsplit("/", 1)[-1]
        d = self.double
        with d._lock:
            d.requests.append(Request("PUT", self.path, data, None, headers=dict(self.headers)))
        fault = d._take_fault("PUT")
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault and fault.kind == "hold":
            d._released.wait(timeout=120)
        if fault and fault.kind == "status":
            return self._send(fault.status, {"code": fault.status, "message": fault.message})
        if fault and fault.kind == "drop":
            return self._cut()
        with d._lock:
            if token not in d.pending_uploads:
                return self._send(404, {"code": 404, "message": "Upload URL expired"})
            d.uploads[token] = data
        self._send(200, {})

    def do_POST(self) -> None:
        raw = self._body()
        method = self.path.rsplit("/", 1)[-1]
        kind, ok = self._auth()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self._send(400, {"code": 400, "message": "Request body is not JSON"})
        d = self.double
        with d._lock:
            d.requests.append(Request(method, self.path, body, kind, self.headers.get("Authorization"),
                                      headers=dict(self.headers)))
        expected = (f"/api/v1/{SERVICE}/", "/api/v1/security.OAuthService/IntrospectToken")
        if not self.path.startswith(expected):
            return self._send(404, {"code": 404, "message": f"No such endpoint {self.path}"})
        fault = d._take_fault(method)
        if fault and fault.kind == "slow":
            time.sleep(fault.seconds)
        if fault and fault.kind == "hold":
            d._released.wait(timeout=120)
        if fault and fault.kind == "status" and not fault.process:
            return self._send(fault.status, {"code": fault.status, "message": fault.message})
        if fault and fault.kind == "drop" and not fault.process:
            return self._cut()
        with d._lock:
            status, payload = d.rpc(method, body, ok)
        if fault and fault.kind == "drop":
            return self._cut()
        if fault and fault.kind == "status":  # the server committed, then failed to answer
            return self._send(fault.status, {"code": fault.status, "message": fault.message})
        if fault and fault.kind == "garble":
            return self._send(200, b'{"message": "Successfully submitted", "ref": 5')
        self._send(status, payload)
