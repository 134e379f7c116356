"""Training: the loop, optimizers and schedules, mixing, augmentations, checkpoints, the run.

    runner.train_run(ws, recipe)            one run, start to final status, in the store
    runner.train_run(ws, None, run_id=ID)   resume a stopped run exactly
    checkpoints.resolve / load_for_inference   what evaluation and prediction load

Modules import torch; the CLI imports them inside its commands.
"""
