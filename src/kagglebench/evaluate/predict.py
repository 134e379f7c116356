"""Test-set predictions written in the competition's exact submission format.

The test set is streamed in submission order (`Workspace.iter_test`: the DS-542 folder
memory-mapped one distortion file at a time), run through the run's own test transform,
and the class with the highest (TTA-averaged) logit is written by kaggle.formats; the
file is then checked by the same validator `kagglebench submit` uses. Test logits are
cached like every other split, so a second prediction, an ensemble or a submission of
the same checkpoint runs no model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglebench.errors import UserError
from kagglebench.evaluate.cache import CheckpointLogits
from kagglebench.kaggle import formats

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace


def argmax_rows(logits: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """The predicted class of each row of float16 logits, converting `chunk` rows at a time to
    float32: the whole DS-542 matrix in float32 would be 380 MB on top of the 190 MB cache."""
    out = np.empty(len(logits), np.int64)
    for i in range(0, len(logits), chunk):
        out[i:i + chunk] = logits[i:i + chunk].astype(np.float32).argmax(axis=1)
    return out


def default_out(ws: Workspace, run_id: str, tag: str, tta: str) -> Path:
    suffix = "" if tta == "none" else f"-{tta}"
    return Path(ws.submissions_dir) / f"{run_id}-{tag}{suffix}.csv"


def predict_run(ws: Workspace, run_id: str, *, checkpoint: str | int = "best", tta: str | None = "none",
                out: str | Path | None = None, device: str | None = None) -> dict[str, Any]:
    """Write the submission CSV of one checkpoint; returns {"run", "checkpoint", "out", "rows", ...}.

    "local_acc" is the accuracy against the competition's local answer key where one
    exists (the demo), else None.
    """
    ck = CheckpointLogits(ws, run_id, checkpoint, device)
    tta = tta or ck.run.tta               # None: the run's own default (data.tta)
    logits = ck.logits("test", tta)
    fmt = ws.submission_format()
    if logits.shape[1] != int(fmt.num_classes):
        raise UserError(run_id, f"the model predicts {logits.shape[1]} classes but this competition "
                                f"has {fmt.num_classes}: was it trained on this workspace's data?")
    preds = argmax_rows(logits)
    path = Path(out) if out else default_out(ws, run_id, ck.tag, tta)
    if path.suffix.lower() != ".csv":
        raise UserError(path, "the output file name must end in .csv")
    formats.write_submission(path, ws, preds)
    try:
        rows = formats.validate_csv(path, ws)
    except UserError:
        path.unlink(missing_ok=True)       # never leave a file that would be refused
        raise
    answers = ck.source("test").labels
    local = float((preds == answers).mean()) if answers is not None and len(answers) == len(preds) else None
    return {"run": run_id, "checkpoint": ck.tag, "tta": tta, "out": str(path), "rows": rows,
            "local_acc": local, "forward_passes": ck.forward_passes}
