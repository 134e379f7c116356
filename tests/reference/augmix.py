"""TEST-ONLY transcription of AugMix (Hendrycks et al. 2020), github google-research/augmix at
9b9824c7c19bf7e72df2d085d97b99b3bfb00ba4 (Apache-2.0, Copyright 2019 Google LLC).

Transcribed as the original is written, so kagglebench's batched version (train/augmix.py) can be
checked against it on the same inputs:
- the operations of `augmentations.py` (PIL, numpy's global random state), with IMAGE_SIZE = 32;
- `augment_and_mix` of `augment_and_mix.py` (numpy reference of the mixing);
- the Jensen-Shannon consistency loss, written inline in `cifar.py`'s `train()`, as a function;
- `cifar.py`'s command-line defaults (its argparse, as a dict), its `get_lr` and the LambdaLR factor
  `main()` builds from it, and its training transform (`main()`'s train_transform and preprocess).
Only the names differ where the original writes code inline. Not shipped with the package.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps
from torchvision import transforms

# ImageNet code should change this value
IMAGE_SIZE = 32


# ---------------------------------------------------------------- augmentations.py

def int_parameter(level, maxval):
    return int(level * maxval / 10)


def float_parameter(level, maxval):
    return float(level) * maxval / 10.


def sample_level(n):
    return np.random.uniform(low=0.1, high=n)


def autocontrast(pil_img, _):
    return ImageOps.autocontrast(pil_img)


def equalize(pil_img, _):
    return ImageOps.equalize(pil_img)


def posterize(pil_img, level):
    level = int_parameter(sample_level(level), 4)
    return ImageOps.posterize(pil_img, 4 - level)


def rotate(pil_img, level):
    degrees = int_parameter(sample_level(level), 30)
    if np.random.uniform() > 0.5:
        degrees = -degrees
    return pil_img.rotate(degrees, resample=Image.BILINEAR)


def solarize(pil_img, level):
    level = int_parameter(sample_level(level), 256)
    return ImageOps.solarize(pil_img, 256 - level)


def shear_x(pil_img, level):
    level = float_parameter(sample_level(level), 0.3)
    if np.random.uniform() > 0.5:
        level = -level
    return pil_img.transform((IMAGE_SIZE, IMAGE_SIZE), Image.AFFINE, (1, level, 0, 0, 1, 0), resample=Image.BILINEAR)


def shear_y(pil_img, level):
    level = float_parameter(sample_level(level), 0.3)
    if np.random.uniform() > 0.5:
        level = -level
    return pil_img.transform((IMAGE_SIZE, IMAGE_SIZE), Image.AFFINE, (1, 0, 0, level, 1, 0), resample=Image.BILINEAR)


def translate_x(pil_img, level):
    level = int_parameter(sample_level(level), IMAGE_SIZE / 3)
    if np.random.random() > 0.5:
        level = -level
    return pil_img.transform((IMAGE_SIZE, IMAGE_SIZE), Image.AFFINE, (1, 0, level, 0, 1, 0), resample=Image.BILINEAR)


def translate_y(pil_img, level):
    level = int_parameter(sample_level(level), IMAGE_SIZE / 3)
    if np.random.random() > 0.5:
        level = -level
    return pil_img.transform((IMAGE_SIZE, IMAGE_SIZE), Image.AFFINE, (1, 0, 0, 0, 1, level), resample=Image.BILINEAR)


# operation that overlaps with ImageNet-C's test set
def color(pil_img, level):
    level = float_parameter(sample_level(level), 1.8) + 0.1
    return ImageEnhance.Color(pil_img).enhance(level)


# operation that overlaps with ImageNet-C's test set
def contrast(pil_img, level):
    level = float_parameter(sample_level(level), 1.8) + 0.1
    return ImageEnhance.Contrast(pil_img).enhance(level)


# operation that overlaps with ImageNet-C's test set
def brightness(pil_img, level):
    level = float_parameter(sample_level(level), 1.8) + 0.1
    return ImageEnhance.Brightness(pil_img).enhance(level)


# operation that overlaps with ImageNet-C's test set
def sharpness(pil_img, level):
    level = float_parameter(sample_level(level), 1.8) + 0.1
    return ImageEnhance.Sharpness(pil_img).enhance(level)


augmentations = [
    autocontrast, equalize, posterize, rotate, solarize, shear_x, shear_y,
    translate_x, translate_y
]

augmentations_all = [
    autocontrast, equalize, posterize, rotate, solarize, shear_x, shear_y,
    translate_x, translate_y, color, contrast, brightness, sharpness
]


# ---------------------------------------------------------------- augment_and_mix.py

# CIFAR-10 constants
MEAN = [0.4914, 0.4822, 0.4465]
STD = [0.2023, 0.1994, 0.2010]


def normalize(image):
    """Normalize input image channel-wise to zero mean and unit variance."""
    image = image.transpose(2, 0, 1)  # Switch to channel-first
    mean, std = np.array(MEAN), np.array(STD)
    image = (image - mean[:, None, None]) / std[:, None, None]
    return image.transpose(1, 2, 0)


def apply_op(image, op, severity):
    image = np.clip(image * 255., 0, 255).astype(np.uint8)
    pil_img = Image.fromarray(image)  # Convert to PIL.Image
    pil_img = op(pil_img, severity)
    return np.asarray(pil_img) / 255.


def augment_and_mix(image, severity=3, width=3, depth=-1, alpha=1.):
    """image: float32 (h, w, c) in [0, 1]; returns the mixed image, normalized."""
    ws = np.float32(np.random.dirichlet([alpha] * width))
    m = np.float32(np.random.beta(alpha, alpha))

    mix = np.zeros_like(image)
    for i in range(width):
        image_aug = image.copy()
        d = depth if depth > 0 else np.random.randint(1, 4)
        for _ in range(d):
            op = np.random.choice(augmentations)
            image_aug = apply_op(image_aug, op, severity)
        # Preprocessing commutes since all coefficients are convex
        mix += ws[i] * normalize(image_aug)

    mixed = (1 - m) * normalize(image) + m * mix
    return mixed


# ---------------------------------------------------------------- cifar.py, train(), the JSD branch

def jsd_loss(logits_all, targets, batch):
    """The loss of one JSD step from the logits of torch.cat([clean, aug1, aug2]) (cifar.py)."""
    logits_clean, logits_aug1, logits_aug2 = torch.split(logits_all, batch)

    # Cross-entropy is only computed on clean images
    loss = F.cross_entropy(logits_clean, targets)

    p_clean, p_aug1, p_aug2 = F.softmax(
        logits_clean, dim=1), F.softmax(
            logits_aug1, dim=1), F.softmax(
                logits_aug2, dim=1)

    # Clamp mixture distribution to avoid exploding KL divergence
    p_mixture = torch.clamp((p_clean + p_aug1 + p_aug2) / 3., 1e-7, 1).log()
    loss += 12 * (F.kl_div(p_mixture, p_clean, reduction='batchmean') +
                  F.kl_div(p_mixture, p_aug1, reduction='batchmean') +
                  F.kl_div(p_mixture, p_aug2, reduction='batchmean')) / 3.
    return loss


# ---------------------------------------------------------------- cifar.py, argparse defaults and main()

# parser.add_argument(...) defaults, by dest. --model's default is 'wrn' (WideResNet 40-2).
CIFAR_ARGS = {
    "dataset": "cifar10", "model": "wrn", "epochs": 100, "learning_rate": 0.1, "batch_size": 128,
    "eval_batch_size": 1000, "momentum": 0.9, "decay": 0.0005, "layers": 40, "widen_factor": 2,
    "droprate": 0.0, "mixture_width": 3, "mixture_depth": -1, "aug_severity": 3, "no_jsd": False,
    "all_ops": False,
}
# main(): torch.manual_seed(1); np.random.seed(1); SGD(..., nesterov=True); the test set every epoch.
SEED = 1
NESTEROV = True


def get_lr(step, total_steps, lr_max, lr_min):
    """Compute learning rate according to cosine annealing schedule."""
    return lr_min + (lr_max - lr_min) * 0.5 * (1 +
                                               np.cos(step / total_steps * np.pi))


def lr_at(step, steps_per_epoch, args=CIFAR_ARGS):
    """The lr of optimizer step `step` (0-based): LambdaLR(optimizer, lambda step: get_lr(step,
    args.epochs * len(train_loader), 1, 1e-6 / args.learning_rate)) times the initial lr."""
    factor = get_lr(step, args["epochs"] * steps_per_epoch, 1, 1e-6 / args["learning_rate"])
    return args["learning_rate"] * factor


def train_transform():
    return transforms.Compose(
        [transforms.RandomHorizontalFlip(),
         transforms.RandomCrop(32, padding=4)])


def preprocess():
    return transforms.Compose(
        [transforms.ToTensor(),
         transforms.Normalize([0.5] * 3, [0.5] * 3)])
