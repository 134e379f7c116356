"""The real official kaggle client, wrapped by kagglebench.kaggle.client, against the local double."""

from __future__ import annotations

from pathlib import Path

import pytest

from kagglebench.errors import UserError
from kagglebench.kaggle import client as C
from tests.kaggle.double import KEY, TOKEN, KaggleDouble


def _csv(tmp_path: Path, body: str = "id,label\na,1\nb,2\nc,0\nd,0\n") -> Path:
    p = tmp_path / "sub.csv"
    p.write_text(body)
    return p


def _connect(**kw) -> C.KaggleClient:
    return C.connect(timeout=kw.pop("timeout", 5.0), backoff=0.01, **kw)


def test_three_step_upload_sends_the_file_bytes_once(kaggle_double: KaggleDouble, tmp_path: Path) -> None:
    path = _csv(tmp_path)
    ref = _connect().submit(path, "first try", kaggle_double.competition)
    methods = [r.method for r in kaggle_double.calls()]
    assert methods == ["StartSubmissionUpload", "PUT", "CreateSubmission"]
    start = kaggle_double.calls("StartSubmissionUpload")[0].body
    assert start["fileName"] == "sub.csv" and start["contentLength"] == path.stat().st_size
    assert kaggle_double.calls("PUT")[0].body == path.read_bytes()
    assert kaggle_double.calls("PUT")[0].auth is None  # the upload URL carries no credentials
    assert kaggle_double.calls("CreateSubmission")[0].auth == "basic"
    assert kaggle_double.submissions[0].data == path.read_bytes()
    assert ref == str(kaggle_double.submissions[0].ref)


def test_list_get_limits_leaderboard(kaggle_double: KaggleDouble, tmp_path: Path) -> None:
    k = _connect()
    assert k.limits(kaggle_double.competition) == {"num_today": 0, "num_total": 0, "num_allowed_now": 5,
                                                  "limited_by_total": False}
    ref = k.submit(_csv(tmp_path), "first try", kaggle_double.competition)
    kaggle_double.add_external("web.csv", "made on the website", "0.25000")
    subs = k.submissions(kaggle_double.competition)
    assert [s["description"] for s in subs] == ["first try", "made on the website"]
    got = k.get_submission(ref)
    assert got["status"] == "complete" and got["public_score"] == 1.0  # public ids a, b: both right
    assert k.limits(kaggle_double.competition)["num_allowed_now"] == 3  # the website one counts too
    board = k.leaderboard(kaggle_double.competition)
    assert board[0]["team"] == kaggle_double.username and board[0]["rank"] == 1
    assert [e["score"] for e in board] == sorted((e["score"] for e in board), reverse=True)


def test_bearer_token_is_introspected(make_double, monkeypatch: pytest.MonkeyPatch) -> None:
    kd = make_double(credentials=False, answer_key={"a": "1"})
    monkeypatch.setenv("KAGGLE_API_TOKEN", TOKEN)
    _connect().limits(kd.competition)
    assert kd.calls("IntrospectToken")[0].body == {"token": TOKEN}
    assert kd.calls("GetSubmissionLimits")[0].auth == "bearer"


@pytest.mark.parametrize("status, words", [
    (401, "rejected your credentials"), (403, "join the competition"), (404, "check the slug"),
    (429, "wait a few minutes")])
def test_each_error_code_is_one_clear_line(kaggle_double: KaggleDouble, tmp_path: Path, status: int,
                                           words: str) -> None:
    kaggle_double.fail("CreateSubmission", status=status)
    with pytest.raises(UserError) as e:
        _connect().submit(_csv(tmp_path), "x", kaggle_double.competition)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert len(kaggle_double.calls("CreateSubmission")) == 1  # the submit is never retried


def test_real_refusals_from_the_double(make_double, tmp_path: Path) -> None:
    kd = make_double(joined=False, answer_key={"a": "1"})
    with pytest.raises(UserError, match="invite link"):
        _connect().limits(kd.competition)
    with pytest.raises(UserError, match="check the slug"):
        _connect().limits("no-such-competition")


def test_wrong_key_gives_401_line(make_double, kaggle_env: Path) -> None:
    kd = make_double(answer_key={"a": "1"})
    (kaggle_env / "kaggle.json").write_text('{"username": "student-double", "key": "wrong"}')
    with pytest.raises(UserError, match="401"):
        _connect().submissions(kd.competition)


def test_safe_calls_retry_submit_does_not(kaggle_double: KaggleDouble, tmp_path: Path) -> None:
    kaggle_double.fail("ListSubmissions", status=503, times=2)
    kaggle_double.fail("GetSubmissionLimits", status=429, times=1)
    k = _connect()
    assert k.submissions(kaggle_double.competition) == []
    assert len(kaggle_double.calls("ListSubmissions")) == 3
    assert k.limits(kaggle_double.competition)["num_allowed_now"] == 5
    kaggle_double.fail("CreateSubmission", status=503)
    with pytest.raises(C.SubmitOutcomeUnknown, match="503"):  # Kaggle may have recorded it
        k.submit(_csv(tmp_path), "x", kaggle_double.competition)
    assert len(kaggle_double.calls("CreateSubmission")) == 1 and kaggle_double.submissions == []


def test_dropped_connection_during_submit_is_unknown_not_resent(kaggle_double: KaggleDouble,
                                                               tmp_path: Path) -> None:
    kaggle_double.drop("CreateSubmission")
    with pytest.raises(C.SubmitOutcomeUnknown):
        _connect().submit(_csv(tmp_path), "x", kaggle_double.competition)
    assert len(kaggle_double.calls("CreateSubmission")) == 1
    assert len(kaggle_double.submissions) == 1  # Kaggle got it; the client never heard


def test_slow_answer_times_out_then_retries(kaggle_double: KaggleDouble) -> None:
    kaggle_double.slow("ListSubmissions", seconds=1.5)
    k = _connect(timeout=0.5)
    assert k.submissions(kaggle_double.competition) == []
    assert len(kaggle_double.calls("ListSubmissions")) == 2


def test_no_credentials_says_where_to_put_them(make_double, kaggle_env: Path) -> None:
    make_double(credentials=False)
    with pytest.raises(UserError) as e:
        _connect()
    assert str(kaggle_env / "kaggle.json") in str(e.value) and "KAGGLE_API_TOKEN" in str(e.value)


def test_readable_kaggle_json_warns_without_showing_the_key(make_double, kaggle_env: Path,
                                                            capsys: pytest.CaptureFixture) -> None:
    kd = make_double(answer_key={"a": "1"})
    kd.write_credentials(kaggle_env, mode=0o644)
    _connect().limits(kd.competition)
    out = capsys.readouterr()
    assert "chmod 600" in out.err and out.out == ""
    assert KEY not in out.err + out.out


def test_our_upload_sends_what_the_official_clients_upload_sends(kaggle_double: KaggleDouble,
                                                                 tmp_path: Path) -> None:
    """kagglebench replaces the client's `upload_complete` (to give the PUT a timeout): the
    double must receive the same request from both, the client's own method run unchanged."""
    from kaggle.api.kaggle_api_extended import KaggleApi
    from kaggle.models.kaggle_models_extended import ResumableUploadResult

    from kagglebench.kaggle.upload import put_file

    path = _csv(tmp_path)
    kaggle_double.pending_uploads.update(a={}, b={})  # two upload slots, as StartSubmissionUpload opens
    theirs = KaggleApi.upload_complete(KaggleApi.__new__(KaggleApi), str(path),
                                       f"{kaggle_double.endpoint}/upload/a", quiet=True)
    assert theirs == ResumableUploadResult.COMPLETE

    put_file(path, f"{kaggle_double.endpoint}/upload/b", timeout=5.0)
    a, b = kaggle_double.calls("PUT")
    assert a.body == b.body == path.read_bytes()
    keys = ("Content-Length", "Authorization", "Content-Range")
    assert {k: a.headers.get(k) for k in keys} == {k: b.headers.get(k) for k in keys}
    assert a.headers.get("Authorization") is None  # the URL is the permission


def test_client_versions_are_the_pinned_ones() -> None:
    """The RPC timeout mounts an adapter on kagglesdk's private session; pyproject pins the
    versions this was tested with, and this test fails when another version is installed."""
    from importlib.metadata import version

    from packaging.specifiers import SpecifierSet

    pins = {"kaggle": SpecifierSet(">=2.2.4,<2.3"), "kagglesdk": SpecifierSet(">=0.1.38,<0.2")}
    for name, spec in pins.items():
        assert version(name) in spec, (name, version(name))
    from kagglesdk.kaggle_http_client import KaggleHttpClient

    http = KaggleHttpClient()
    http._init_session()
    assert http._session is not None  # what connect() mounts its timeout adapter on
