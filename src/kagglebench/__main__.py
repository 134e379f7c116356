"""`python -m kagglebench` is the same as the `kagglebench` command."""

from kagglebench.cli import main

if __name__ == "__main__":
    main()
