"""The small networks of the seed reports: MLPs, LeNet-5, SimpleCNNs, ConvNet-96, and the demo CNN.

Layers whose size depends on the image size (the first linear layer after a
flatten) are sized from `input_size`, so e.g. LeNet-5 on 96x96 images gets the
16x21x21 flatten that seed 004 describes.
"""

from __future__ import annotations

from torch import nn


def _size(input_size: int | None, default: int) -> int:
    return int(input_size or default)


def _conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1, padding: int | None = None,
                  bias: bool = False) -> list:
    # The seed reports describe plain nn.Conv2d layers (bias on, torch's default) before their
    # BatchNorm; kagglebench's own demo net leaves the redundant bias out.
    pad = k // 2 if padding is None else padding
    return [nn.Conv2d(cin, cout, k, stride, pad, bias=bias), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Classifier(nn.Module):
    """`features` then `fc`: the shape every registered model shares (the head is `fc`)."""

    def __init__(self, features: nn.Module, fc: nn.Module) -> None:
        super().__init__()
        self.features = features
        self.fc = fc

    def forward(self, x):
        return self.fc(self.features(x))


def twolayer_mlp(num_classes: int, input_size: int | None = None) -> nn.Module:
    s = _size(input_size, 32)
    return Classifier(nn.Sequential(nn.Flatten(), nn.Linear(3 * s * s, 512), nn.ReLU(inplace=True)),
                      nn.Linear(512, num_classes))


def mlp_4layer(num_classes: int, input_size: int | None = None) -> nn.Module:
    s = _size(input_size, 32)
    layers: list[nn.Module] = [nn.Flatten()]
    for cin, cout in ((3 * s * s, 1024), (1024, 512), (512, 256)):
        layers += [nn.Linear(cin, cout), nn.ReLU(inplace=True)]
    return Classifier(nn.Sequential(*layers), nn.Linear(256, num_classes))


def lenet5(num_classes: int, input_size: int | None = None) -> nn.Module:
    s = _size(input_size, 32)
    side = ((s - 4) // 2 - 4) // 2
    if side < 1:
        raise ValueError(f"lenet5 needs images of at least 16x16, got {s}")
    features = nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * side * side, 120), nn.ReLU(inplace=True),
        nn.Linear(120, 84), nn.ReLU(inplace=True),
    )
    return Classifier(features, nn.Linear(84, num_classes))


def simplecnn_3block(num_classes: int, input_size: int | None = None) -> nn.Module:
    s = _size(input_size, 32) // 8
    layers: list[nn.Module] = []
    for cin, cout in ((3, 64), (64, 128), (128, 256)):
        layers += _conv_bn_relu(cin, cout, bias=True) + _conv_bn_relu(cout, cout, bias=True) + [nn.MaxPool2d(2)]
    layers += [nn.Flatten(), nn.Linear(256 * s * s, 512), nn.ReLU(inplace=True), nn.Dropout(0.5)]
    return Classifier(nn.Sequential(*layers), nn.Linear(512, num_classes))


def simplecnn_1conv(num_classes: int, input_size: int | None = None) -> nn.Module:
    s = _size(input_size, 32) // 2
    features = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                             nn.Flatten())
    return Classifier(features, nn.Linear(32 * s * s, num_classes))


def convnet96(num_classes: int, input_size: int | None = None) -> nn.Module:
    # The stride-3 stem brings 96x96 (upscaled CIFAR or STL-10) back to 32x32, so
    # pre-training and fine-tuning see features at the same scale (seed 004).
    layers = _conv_bn_relu(3, 64, 3, stride=3, padding=0, bias=True)
    layers += _conv_bn_relu(64, 128, 5, bias=True) + [nn.MaxPool2d(2)]
    for cin in (128, 256):
        layers += _conv_bn_relu(cin, cin * 2, bias=True) + [nn.MaxPool2d(2)]
    layers += _conv_bn_relu(512, 1024, bias=True) + [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    layers += [nn.Linear(1024, 512), nn.ReLU(inplace=True), nn.Linear(512, 512), nn.ReLU(inplace=True),
               nn.Dropout(0.5)]
    return Classifier(nn.Sequential(*layers), nn.Linear(512, num_classes))


def demo_cnn(num_classes: int, input_size: int | None = None, widths: tuple = (24, 48, 96)) -> nn.Module:
    # Sized for the demo competition: a few epochs on a 2-core CPU in well under a minute.
    layers: list[nn.Module] = []
    cin = 3
    for cout in widths:
        layers += _conv_bn_relu(cin, cout) + [nn.MaxPool2d(2)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return Classifier(nn.Sequential(*layers), nn.Linear(cin, num_classes))
