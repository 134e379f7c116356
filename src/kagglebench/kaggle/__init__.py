"""Kaggle side of kagglebench: submission CSV formats and validation (formats), the official
client wrapper (client), submitting and syncing (submit, sync).

Nothing here imports the `kaggle` package at import time: it authenticates as soon as it
is imported, so only the client wrapper imports it, inside its functions.
"""
