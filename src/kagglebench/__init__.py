"""kagglebench: a harness for image-classification Kaggle competitions.

Importing the package is cheap: no torch, no Qt. Heavy modules are imported
inside the commands that need them.
"""

__version__ = "0.1.0"
