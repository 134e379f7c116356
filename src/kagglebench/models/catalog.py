"""The built-in models: each name, the function that builds it (imported when a model is created)
and what it is. Importing this file imports no torch, so a recipe's `model.name` is checked
against these names wherever a recipe is read (config.py), the desktop app included.
A new architecture is one function in a model module plus one line here."""

from __future__ import annotations

from kagglebench.models.registry import register_model

_SMALL = "kagglebench.models.small"

register_model("twolayer-mlp", factory=f"{_SMALL}:twolayer_mlp",
               description="two-layer perceptron, hidden 512 (seed 004)")
register_model("mlp-4layer", factory=f"{_SMALL}:mlp_4layer",
               description="four-layer perceptron 1024-512-256 (seed 004, improved)")
register_model("lenet5", factory=f"{_SMALL}:lenet5", description="LeNet-5: conv 6-16, FC 120-84 (seed 004)")
register_model("simplecnn-3block", factory=f"{_SMALL}:simplecnn_3block",
               description="3 blocks of 2x(conv3x3+BN+ReLU)+max-pool, 64/128/256, FC 512 (seed 000)")
register_model("simplecnn-1conv", factory=f"{_SMALL}:simplecnn_1conv",
               description="one 3x3 conv (32 filters) + ReLU + max-pool (seed 001)")
register_model("convnet96", factory=f"{_SMALL}:convnet96", input_size=96,
               description="5 conv blocks, stride-3 stem for 96x96, 64..1024, GAP, 3 linear (seed 004)")
register_model("demo-cnn", factory=f"{_SMALL}:demo_cnn",
               description="small 3-conv CNN (24-48-96, GAP) that trains in seconds on a CPU")
register_model("se-resnet", factory="kagglebench.models.se_resnet:se_resnet",
               description="ResNet 4/4/3 at 64/128/256, one SE block after the stem, dropout 0.1: "
                           "4,697,742 parameters (seed 003)")
register_model("fast", factory="kagglebench.models.fast:fast",
               description="airbench94's net: whitening stem, GELU conv groups 64/256/256")
for _depth in (18, 34, 50, 101, 152):
    register_model(f"resnet{_depth}", factory=f"kagglebench.models.resnet:resnet{_depth}", input_size=224,
                   weights_enum=f"ResNet{_depth}_Weights",
                   description=f"torchvision ResNet-{_depth} (cifar_stem option, ImageNet weights)")
