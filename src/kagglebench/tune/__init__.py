"""Hyperparameter search with Optuna: `kagglebench tune`.

space.py   the search-space TOML, checked against the config like overrides
study.py   where a study lives (workspace journal file or a shared database), sampler and pruner,
           the budget, dead-trial reaping, and the link a training child uses to report its epochs
worker.py  the ask / train-in-a-child / tell loop one worker runs (per GPU, machine or SLURM job)
slurm.py   workers as SLURM jobs through submitit
report.py  the best trials and Optuna's matplotlib figures

Importing this package imports neither optuna nor torch; the modules import optuna inside functions.
"""
