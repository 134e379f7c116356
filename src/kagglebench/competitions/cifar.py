"""A plain CIFAR-10 or CIFAR-100 python folder: its own test file is the test set."""

from __future__ import annotations

from kagglebench.competitions.base import Competition, register_profile


@register_profile
class Cifar10(Competition):
    name = "cifar10"
    description = "a CIFAR-10 python folder; its test_batch is the test set"
    usage = "--data cifar-10-batches-py (test_batch is the test set)"
    train_format = "cifar10"


@register_profile
class Cifar100(Competition):
    name = "cifar100"
    description = "a CIFAR-100 python folder; its test file is the test set"
    usage = "--data cifar-100-python    (test is the test set)"
    train_format = "cifar100"
