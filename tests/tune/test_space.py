"""The space file: keys and values checked like overrides, one-line errors, nothing written on a bad one."""

from __future__ import annotations

import pytest

from kagglebench.config import load_recipe
from kagglebench.errors import UserError
from kagglebench.tune.space import load_space
from tests.tune.conftest import kb, write_space


def _space(tmp_path, text):
    path = tmp_path / "space.toml"
    path.write_text(text)
    return load_space(path, load_recipe("demo-cnn"))


def test_kinds_keys_and_distributions(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = _space(tmp_path, """
optim.lr = {log = [1e-4, 1e-1]}
train.batch_size = {choice = [64, 128, 256]}
train.mixup_alpha = {float = [0, 1]}
epochs = {int = [2, 4]}
[data]
crop_padding = {log = [1, 8]}
[tune]
pruner = "halving"
[[first]]
lr = 0.01
train.batch_size = 128
""")
    by = {p.key: p.distribution() for p in space.params}
    assert by["optim.lr"] == FloatDistribution(1e-4, 1e-1, log=True)
    assert by["train.batch_size"] == CategoricalDistribution([64, 128, 256])
    assert by["train.mixup_alpha"] == FloatDistribution(0.0, 1.0)
    assert by["train.epochs"] == IntDistribution(2, 4)          # the shortcut is stored as its full key
    assert by["data.crop_padding"] == IntDistribution(1, 8, log=True)  # a whole-number key stays whole
    assert space.settings["pruner"] == "halving" and space.settings["startup_trials"] == 5
    assert space.first == [{"optim.lr": 0.01, "train.batch_size": 128}]


@pytest.mark.parametrize("text, fragment", [
    ("optim.lrr = {log = [1e-4, 1e-1]}", "unknown key 'optim.lrr' (did you mean 'optim.lr'?); valid keys: optim.name"),
    ("optimizer.lr = {log = [1e-4, 1e-1]}", "unknown key 'optimizer.lr'"),
    ("optim.lr = 0.1", "write {log = [low, high]}"),
    ("optim.lr = {log = [0, 1]}", "needs low > 0"),
    ("optim.lr = {float = [0.5, 0.1]}", "needs low < high"),
    ("optim.lr = {log = [1e-4, 1e-1, 1]}", "needs two numbers"),
    ("optim.lr = {float = [-1, 1]}", "optim.lr = -1.0 makes no sense"),
    ("train.batch_size = {float = [16, 64]}", "holds whole numbers"),
    ("train.batch_size = {choice = [64, 64]}", "listed twice"),
    ("optim.name = {choice = ['sgd', 'lion']}", "'lion' is not one of: sgd, adam, adamw"),
    ("", "searches nothing"),
    ("optim.lr = {log = [1e-3, 1]}\n[tune]\npruner = 'hyperband'", "pruner = 'hyperband' is not one of"),
    ("optim.lr = {log = [1e-3, 1]}\n[tune]\nstartup = 3", "unknown [tune] setting 'startup'"),
    ("optim.lr = {log = [1e-3, 1]}\n[[first]]\noptim.lr = 10.0", "optim.lr = 10.0 is not in [0.001, 1.0]"),
    ("optim.lr = {log = [1e-3, 1]}\n[[first]]\noptim.momentum = 0.5", "does not search"),
    ("optim.lr = {log = [1e-3", "not valid TOML"),
])
def test_bad_spaces_are_refused(tmp_path, text, fragment):
    with pytest.raises(UserError, match=None) as e:
        _space(tmp_path, text)
    assert e.value.where == str(tmp_path / "space.toml")
    assert fragment in e.value.what


def test_an_unknown_key_exits_2_before_anything_is_written(tune_ws):
    write_space(tune_ws, "optim.lrr = {log = [1e-4, 1e-1]}\n")
    r = kb("tune", "demo-cnn", "--space", "space.toml", "--trials", "2", cwd=tune_ws)
    assert r.returncode == 2 and r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kagglebench: error: space.toml: unknown key 'optim.lrr'")
    assert "valid keys: " in lines[0]
    assert not (tune_ws / "optuna-journal.log").exists() and not (tune_ws / "tunes").exists()


@pytest.mark.parametrize("args, fragment", [
    (["demo-cnn", "--trials", "2"], "give the search space and the budget"),
    (["demo-cnn", "--space", "space.toml", "--trials", "0"], "--trials: needs at least 1"),
    (["--worker"], "name the study to join with --study NAME"),
    (["--report", "nosuch"], "study nosuch: no such study"),
    (["--worker", "--study", "x", "--space", "space.toml"], "give only --study/--storage"),
    (["demo-cnn", "--space", "space.toml", "--trials", "2", "--time", "01:00"], "use it with --slurm"),
    (["demo-cnn", "--space", "space.toml", "--trials", "2", "--study", "a b"], "a study name is"),
    (["demo-cnn", "--space", "space.toml", "--trials", "2", "--slurm", "gpu", "--time", "1h"], "write the time limit"),
])
def test_bad_calls_exit_2_with_one_line(tune_ws, args, fragment):
    write_space(tune_ws, "optim.lr = {log = [1e-4, 1e-1]}\n")
    r = kb("tune", *args, cwd=tune_ws)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and fragment in r.stderr, r.stderr


def test_slurm_without_sbatch_says_where_to_run(tune_ws, monkeypatch):
    import shutil

    if shutil.which("sbatch"):
        pytest.skip("this machine has sbatch")
    write_space(tune_ws, "optim.lr = {log = [1e-4, 1e-1]}\n")
    r = kb("tune", "demo-cnn", "--space", "space.toml", "--trials", "1", "--slurm", "gpu", cwd=tune_ws)
    assert r.returncode == 2 and "sbatch is not on this machine" in r.stderr
