"""The one exception a user can fix: printed as `kagglebench: error: <where>: <what>`, exit 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input, a missing file, missing credentials, a refusal from Kaggle.

    `where` names the file or call, `what` says what is wrong, in words a
    student who has never seen the tool can act on.
    """

    def __init__(self, where: str | object, what: str) -> None:
        self.where = str(where)
        self.what = what
        super().__init__(f"{self.where}: {what}")
