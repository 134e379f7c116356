"""The PUT of a submission file to the upload URL Kaggle hands out, with a timeout.

The official client's `upload_complete` builds its own `requests.Session` for this PUT, so no
timeout set elsewhere reaches it and a stalled upload hangs for ever. `client.connect()` puts
`put_file` in its place (overriding that public method). Same request as the client's (raw
bytes, Content-Length, no credentials: the URL itself is the permission; success is 200 or 201,
tests/kaggle/test_client.py compares the two against the double). Retrying it is safe: nothing
exists on Kaggle until CreateSubmission names the upload, so a failure here never costs a
submission.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

_RETRY_STATUS = {429, 500, 502, 503, 504}


class UploadFailed(Exception):
    """The file did not reach the upload URL; CreateSubmission was never sent."""


def put_file(path: str | Path, url: str, *, timeout: float, retries: int = 4, backoff: float = 1.0,
             sleep: Callable[[float], None] = time.sleep) -> None:
    """PUT the file's bytes to `url`; UploadFailed (with the reason) when every try failed."""
    import requests

    size = Path(path).stat().st_size
    reason = ""
    for attempt in range(retries + 1):
        try:
            with open(path, "rb") as f, requests.Session() as session:
                r = session.put(url, data=f, headers={"Content-Length": str(size)}, timeout=timeout)
        except requests.exceptions.Timeout:
            reason, retriable = f"no answer within {timeout:g} s", True
        except requests.exceptions.ConnectionError as e:
            reason, retriable = f"connection failed: {type(e).__name__}", True
        else:
            if r.status_code in (200, 201):
                return
            reason, retriable = f"HTTP {r.status_code}", r.status_code in _RETRY_STATUS
        if not retriable or attempt == retries:
            break
        sleep(backoff * 2 ** attempt)
    tries = f" after {attempt + 1} tries" if attempt else ""
    raise UploadFailed(f"{reason}{tries}")
