"""The new-run dialog: pick a recipe, see every field with its default, change some.

Changed fields become `section.key=value` overrides, validated exactly as the
CLI validates them (`kagglebench.config.load_recipe(recipe, overrides)`), on
the task pool so the window never waits on the disk. "Duplicate with changes"
opens the same dialog with a finished run's values filled in.

The Time line is measured: when the recipe or a field changes, the dialog runs
`kagglebench find epoch-time RECIPE OVERRIDES --json` as a child process (off the UI thread,
one at a time, the latest settings next) and shows the seconds an epoch takes here. While it
measures, the figure from earlier runs of the same model (`wsinfo.epoch_estimate`) stands in.
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kagglebench_gui.workers import TaskPool, run_cli

if TYPE_CHECKING:
    from kagglebench.workspace import Workspace

MEASURE_STEPS = 5      # steps `find epoch-time` times for the dialog (after its warm-up steps)


def format_value(v: Any) -> str:
    """A recipe value as the text one types in `key=value` on the command line."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def recipe_sections(d: dict) -> dict[str, dict[str, Any]]:
    """The editable sections of `recipe_to_dict(...)`: {section: {key: value}}."""
    return {k: v for k, v in d.items() if isinstance(v, dict)}


def changed_overrides(defaults: dict[str, dict[str, Any]], texts: dict[str, str]) -> list[str]:
    """`section.key=value` for every field whose text differs from its default."""
    out = []
    for sec, fields in defaults.items():
        for key, v in fields.items():
            full = f"{sec}.{key}"
            if full in texts and texts[full].strip() != format_value(v):
                out.append(f"{full}={texts[full].strip()}")
    return out


def duplicate_values(config: dict, normalization: dict | None) -> dict:
    """A run's settings to prefill "Duplicate with changes": everything it was trained with,
    except what the trainer measured from the data (mean, std, input size), which the new
    run measures again instead of pinning the old values as explicit overrides."""
    from kagglebench_gui.wsinfo import RESOLVED

    out = {sec: dict(fields) for sec, fields in config.items() if isinstance(fields, dict)}
    for key in RESOLVED:
        sec, name = key.split(".", 1)
        value = out.get(sec, {}).get(name)
        if value in ([], 0, None, ""):
            continue
        if normalization is None or normalization.get(name) == value:
            out[sec].pop(name, None)
    return out


def _load(recipe: str, overrides: list[str] | tuple = ()) -> dict:
    from kagglebench.config import load_recipe, recipe_to_dict
    return recipe_to_dict(load_recipe(recipe, list(overrides)))


def measured_text(doc: dict) -> str:
    """The Time line for a `find epoch-time --json` answer."""
    from kagglebench_gui.wsinfo import human_seconds
    return (f"About {human_seconds(doc['seconds_per_epoch'])} per epoch here (measured from {doc['steps']} "
            f"steps of batch {doc['batch_size']} on {doc['device']}; validation not included).")


def _list() -> list[tuple[str, str]]:
    from kagglebench.config import list_recipes
    return list_recipes()


class NewRunDialog(QDialog):
    """Result after exec(): `recipe`, `overrides` (list of key=value) and `run_name`."""

    def __init__(self, tasks: TaskPool, parent: QWidget | None = None, *, recipe: str | None = None,
                 values: dict | None = None, title: str = "New run", ws: Workspace | None = None,
                 suggested: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 640)
        self.tasks = tasks
        self.preset_recipe, self.preset_values = recipe, values or {}
        self.ws, self.suggested = ws, suggested
        self.defaults: dict[str, dict[str, Any]] = {}
        self.recipe, self.overrides, self.run_name = "", [], ""
        self._editors: dict[str, QLineEdit] = {}
        # The epoch-time measurement: what is wanted, what runs, what was shown, its child.
        self._want: tuple | None = None
        self._measuring: tuple | None = None
        self._measured: tuple | None = None
        self._fallback: dict[str, str] = {}            # model name -> the earlier-runs figure
        self._child: subprocess.Popen | None = None

        self.combo = QComboBox()
        self.combo.setEditable(True)  # a path to a TOML recipe works as well as a name
        self.combo.setToolTip("A built-in recipe (see `kagglebench recipes`) or a path to a TOML file")
        self.desc = QLabel()
        self.desc.setWordWrap(True)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("optional: a name to recognise the run by")
        form = QFormLayout()
        form.addRow("Recipe", self.combo)
        form.addRow("", self.desc)
        self.estimate = QLabel()
        self.estimate.setWordWrap(True)
        form.addRow("Time", self.estimate)
        form.addRow("Run name", self.name_edit)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Field", "Value (edit to override)"])
        self.tree.setColumnWidth(0, 200)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d9534f;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start run")
        self.buttons.accepted.connect(self._validate)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("Fields and their defaults; changed fields are passed as key=value:"))
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.combo.activated.connect(lambda _i: self._load_recipe(self.current_recipe()))
        self.combo.lineEdit().editingFinished.connect(lambda: self._load_recipe(self.current_recipe()))
        self._set_busy(True)
        self.tasks.submit(_list, self._got_list, self._show_error)

    def _set_busy(self, busy: bool) -> None:
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(not busy)

    def _show_error(self, msg: str) -> None:
        self.error.setText(msg)
        self._set_busy(False)

    def _got_list(self, recipes: list[tuple[str, str]]) -> None:
        self._descs = dict(recipes)
        self.combo.clear()
        for name, desc in recipes:
            self.combo.addItem(name + (" (suggested)" if name == self.suggested else ""), name)
            self.combo.setItemData(self.combo.count() - 1, desc, Qt.ToolTipRole)
        pick = self.preset_recipe or self.suggested or (recipes[0][0] if recipes else "")
        i = self.combo.findData(pick)
        if i >= 0:
            self.combo.setCurrentIndex(i)
        else:
            self.combo.setCurrentText(pick)
        if pick:
            self._load_recipe(pick)

    def current_recipe(self) -> str:
        """The chosen recipe's name (the list shows "(suggested)" after one of them)."""
        text = self.combo.currentText().strip()
        data = self.combo.currentData()
        if data and self.combo.itemText(self.combo.currentIndex()) == self.combo.currentText():
            return data
        return text.removesuffix(" (suggested)").strip()

    def _load_recipe(self, recipe: str) -> None:
        recipe = recipe.strip()
        if not recipe or recipe == getattr(self, "_loaded", None):
            return
        self._loaded = recipe
        self._set_busy(True)
        self.error.clear()
        self.tasks.submit(lambda: _load(recipe), lambda d: self._got_recipe(recipe, d), self._show_error)

    def _got_recipe(self, recipe: str, d: dict) -> None:
        if recipe != self.current_recipe():
            return  # the user moved on to another recipe meanwhile
        self.defaults = recipe_sections(d)
        self.desc.setText(d.get("description") or getattr(self, "_descs", {}).get(recipe, ""))
        self.tree.clear()
        self._editors.clear()
        preset = recipe_sections(self.preset_values) if recipe == self.preset_recipe else {}
        for sec, fields in self.defaults.items():
            top = QTreeWidgetItem([sec])
            self.tree.addTopLevelItem(top)
            for key, v in fields.items():
                item = QTreeWidgetItem(top, [key])
                edit = QLineEdit(format_value(preset.get(sec, {}).get(key, v)))
                edit.setPlaceholderText(format_value(v) or "(empty)")
                edit.setToolTip(f"default: {format_value(v) or '(empty)'}")
                edit.editingFinished.connect(self.measure)
                self.tree.setItemWidget(item, 1, edit)
                self._editors[f"{sec}.{key}"] = edit
            top.setExpanded(sec in ("train", "optim", "model"))
        self._set_busy(False)
        self.measure()

    # -- the Time line: measured from a few steps, earlier runs meanwhile -----------------------
    def measure(self) -> None:
        """Time an epoch of the current recipe and fields (unless that is what was last measured)."""
        recipe = self.current_recipe()
        if self.ws is None or not recipe or not self.defaults:
            return
        key = (recipe, tuple(changed_overrides(self.defaults, self.texts())))
        if key == self._want or (self._measuring is None and key == self._measured):
            return                              # being measured, or shown already
        self._want = key
        model = self.texts().get("model.name", "").strip()
        if model and model not in self._fallback:
            self._fallback[model] = ""
            ws = self.ws
            from kagglebench_gui.wsinfo import epoch_estimate
            self.tasks.submit(lambda: epoch_estimate(ws, model), lambda t: self._got_fallback(model, t),
                              lambda m: self._got_fallback(model, ""))
        if self._measuring is None:
            self._start_measuring(key)
        self._show_waiting()

    def _start_measuring(self, key: tuple) -> None:
        self._measuring = key
        recipe, overrides = key
        root = self.ws.root
        args = ["find", "epoch-time", recipe, *overrides, "--steps", str(MEASURE_STEPS), "--json"]
        self.tasks.submit(lambda: run_cli(root, args, started=self._set_child)["json"],
                          lambda doc: self._measure_done(key, doc, None),
                          lambda msg: self._measure_done(key, None, msg))

    def _set_child(self, proc: subprocess.Popen) -> None:   # the task's thread
        self._child = proc

    def _fallback_text(self) -> str:
        return self._fallback.get(self.texts().get("model.name", "").strip(), "")

    def _got_fallback(self, model: str, text: str) -> None:
        self._fallback[model] = text
        if self._measured != self._want:
            self._show_waiting()

    def _show_waiting(self) -> None:
        if self._measured == self._want:
            return
        fb = self._fallback_text()
        meanwhile = f" Meanwhile, from earlier runs: {fb}" if fb else ""
        self.estimate.setText(f"Timing a few training steps here…{meanwhile}")

    def _measure_done(self, key: tuple, doc: dict | None, error: str | None) -> None:
        self._measuring, self._child = None, None
        if key == self._want:
            self._measured = key
            if doc is not None and doc.get("seconds_per_epoch") is not None:
                self.estimate.setText(measured_text(doc))
            else:
                fb = self._fallback_text()
                self.estimate.setText(f"Could not time a few steps: {error or 'no answer'}" + (f" {fb}" if fb else ""))
        elif self._want is not None:
            self._start_measuring(self._want)   # the settings changed meanwhile: measure the latest

    def done(self, result: int) -> None:  # noqa: D401 - Qt's QDialog.done
        """Closing the dialog ends a measurement still running (training a run needs the machine)."""
        self._want = None
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
        super().done(result)

    def texts(self) -> dict[str, str]:
        return {k: e.text() for k, e in self._editors.items()}

    def set_field(self, key: str, text: str) -> None:
        """Set one field's text (`section.key` or a shortcut such as `epochs`)."""
        from kagglebench.config import SHORTCUTS

        self._editors[SHORTCUTS.get(key, key)].setText(text)

    def _validate(self) -> None:
        recipe = self.current_recipe()
        if not recipe:
            self.error.setText("Choose a recipe first.")
            return
        overrides = changed_overrides(self.defaults, self.texts())
        self._set_busy(True)
        self.error.setText("Checking the settings…")

        def ok(_d: dict) -> None:
            self.recipe, self.overrides = recipe, overrides
            self.run_name = self.name_edit.text().strip()
            self.accept()

        self.tasks.submit(lambda: _load(recipe, overrides), ok, self._show_error)
