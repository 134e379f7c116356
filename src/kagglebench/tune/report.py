"""`kagglebench tune --report STUDY`: the best trials as a table, and Optuna's matplotlib figures as PNGs.

The figures are Optuna's own (optuna.visualization.matplotlib): optimization history, parameter
importances (fANOVA), parallel coordinates and the per-epoch validation curves the pruner judged.
They are drawn with the Agg backend, so no window opens and no Qt is imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglebench.tune.space import override

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

PLOTS = ("history", "importances", "parallel", "intermediate")


def _run_ids(ws: Workspace, name: str) -> dict[int, dict[str, Any]]:
    """Runs of this study in this workspace's store, by trial number."""
    if ws is None or not Path(ws.db_path).exists():
        return {}
    from kagglebench.store import Store

    with Store(ws.db_path) as store:
        return {r["trial"]: r for r in store.list_runs(study=name) if r.get("trial") is not None}


def summary(study: Any, attrs: dict[str, Any], ws: Workspace | None = None) -> dict[str, Any]:
    """A JSON-ready account of the study: every trial, the counts by state, the best trial."""
    runs = _run_ids(ws, study.study_name)
    trials = []
    for t in study.get_trials(deepcopy=False):
        run = runs.get(t.number, {})
        trials.append({"number": t.number, "state": t.state.name.lower(), "value": t.value,
                       "params": dict(t.params), "run_id": t.user_attrs.get("run_id") or run.get("id"),
                       "run_status": run.get("status") or t.user_attrs.get("run_status"),
                       "epochs": len(t.intermediate_values), "host": t.user_attrs.get("host"),
                       "ood_ci": t.user_attrs.get("ood_ci"), "retry_of": t.user_attrs.get("retry_of"),
                       "message": t.user_attrs.get("message")})
    states = [t["state"] for t in trials]
    ranked = sorted((t for t in trials if t["state"] == "complete"), key=lambda t: -t["value"])
    return {"study": study.study_name, "recipe": attrs["recipe"]["name"], "objective": attrs["objective"],
            "budget": attrs["trials"], "counts": {s: states.count(s) for s in sorted(set(states))},
            "best": ranked[0] if ranked else None, "ranked": ranked, "trials": trials}


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def format_summary(doc: dict[str, Any], top: int = 5, recipe_path: str | None = None) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in doc["counts"].items()) or "no trials yet"
    lines = [f"study {doc['study']}: recipe {doc['recipe']}, objective {doc['objective']}, "
             f"budget {doc['budget']} trials ({counts})"]
    failed = [t for t in doc["trials"] if t["state"] == "fail" and t.get("message")]
    lines += [f"trial {t['number']} failed: {t['message']}" for t in failed[-3:]]  # the latest say why
    ranked = doc["ranked"][:top]
    if not ranked:
        return "\n".join([*lines, "no finished trial yet"])
    keys = list(ranked[0]["params"])
    ci = any(t.get("ood_ci") for t in ranked)     # the OOD objective's 95% interval, when eval gives one
    head = ["rank", "trial", doc["objective"], *(["95% interval"] if ci else []), "run", *keys]
    body = [[str(i), str(t["number"]), f"{t['value']:.4f}",
             *([f"[{t['ood_ci'][0]:.4f}, {t['ood_ci'][1]:.4f}]" if t.get("ood_ci") else "-"] if ci else []),
             t["run_id"] or "-", *(_fmt(t["params"].get(k)) for k in keys)] for i, t in enumerate(ranked, 1)]
    widths = [max(len(c) for c in col) for col in zip(head, *body)]
    lines += ["", *("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [head, *body])]
    best = doc["best"]
    sets = " ".join(override(k, v) for k, v in best["params"].items())
    lines += ["", f"best: trial {best['number']}, {doc['objective']} {best['value']:.4f}"
                  + (f" (run {best['run_id']})" if best["run_id"] else "") + f": {sets}"]
    if recipe_path:
        lines.append(f"train it again: kagglebench train {recipe_path} {sets}")
    return "\n".join(lines)


def write_plots(study: Any, out_dir: Path) -> tuple[list[Path], list[str]]:
    """The PNGs Optuna can draw for this study, and a note for each it cannot (too few trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ov

    from kagglebench.atomic import replacing
    from kagglebench.tune.study import quiet_optuna

    quiet_optuna()
    draw = {"history": ov.plot_optimization_history, "importances": ov.plot_param_importances,
            "parallel": ov.plot_parallel_coordinate, "intermediate": ov.plot_intermediate_values}
    out_dir.mkdir(parents=True, exist_ok=True)
    written, skipped = [], []
    for name in PLOTS:
        try:
            ax = draw[name](study)
        except (ValueError, RuntimeError, ZeroDivisionError) as e:  # e.g. importances of one finished trial
            skipped.append(f"{name}: {str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}")
            continue
        fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
        path = out_dir / f"{name}.png"
        with replacing(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written, skipped
