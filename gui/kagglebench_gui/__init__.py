"""kagglebench's desktop app (PySide6 + pyqtgraph): runs, live curves, system use,
leaderboard history and submission, over the same run store the CLI uses.

Start it with `kagglebench gui` or `kagglebench-gui`; `app.main()` is the entry point.
The engine (`kagglebench`) never imports this package.
"""
