"""Start a sweep from the app: a recipe, one `key=v1,v2` line per setting to vary, and how
many runs train at once. Checked as the CLI checks it (the grid's syntax, then every value
against the recipe) on the task pool; the sweep itself runs as a child process like training."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kagglebench_gui.workers import TaskPool


def check_grid(recipe: str, lines: list[str]) -> list[str]:
    """The grid's items after the CLI's own checks; raises UserError with its one line."""
    from kagglebench.sweep import parse_grid, plan

    plan(recipe, parse_grid(lines))     # the engine's own check: every combination against the recipe
    return lines


class SweepDialog(QDialog):
    """Result after exec(): `recipe`, `grid` (list of key=v1,v2) and `parallel`."""

    def __init__(self, tasks: TaskPool, parent: QWidget | None = None, recipe: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Start a sweep")
        self.tasks = tasks
        self.recipe, self.grid, self.parallel = "", [], 1
        self.combo = QComboBox()
        self.combo.setEditable(True)
        self.combo.setCurrentText(recipe)
        self.grid_edit = QPlainTextEdit()
        self.grid_edit.setPlaceholderText("one setting per line, e.g.\noptim.lr=0.01,0.05,0.1\ntrain.batch_size=64,128")
        self.par = QSpinBox()
        self.par.setRange(1, 16)
        self.par.setToolTip("Runs training at the same time (one per GPU, or 1 on a CPU)")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d9534f;")
        form = QFormLayout()
        form.addRow("Recipe", self.combo)
        form.addRow("Grid", self.grid_edit)
        form.addRow("At once", self.par)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Start sweep")
        self.buttons.accepted.connect(self._validate)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel("Every combination becomes an ordinary run, tagged with the sweep."))
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.tasks.submit(_recipes, self._got_recipes, self.error.setText)

    def _got_recipes(self, names: list[str]) -> None:
        current = self.combo.currentText()
        self.combo.clear()
        self.combo.addItems(names)
        self.combo.setCurrentText(current or (names[0] if names else ""))

    def set_grid(self, lines: list[str]) -> None:
        self.grid_edit.setPlainText("\n".join(lines))

    def _validate(self) -> None:
        recipe = self.combo.currentText().strip()
        lines = [ln.strip() for ln in self.grid_edit.toPlainText().splitlines() if ln.strip()]
        if not recipe or not lines:
            self.error.setText("Choose a recipe and write at least one line key=v1,v2.")
            return
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(False)
        self.error.setText("Checking the grid…")

        def ok(grid: list[str]) -> None:
            self.recipe, self.grid, self.parallel = recipe, grid, self.par.value()
            self.accept()

        def bad(msg: str) -> None:
            self.buttons.button(QDialogButtonBox.Ok).setEnabled(True)
            self.error.setText(msg)

        self.tasks.submit(lambda: check_grid(recipe, lines), ok, bad)


def _recipes() -> list[str]:
    from kagglebench.config import list_recipes
    return [name for name, _ in list_recipes()]
