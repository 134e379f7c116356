"""Mixup, CutMix and the label-smoothed loss that goes with them, on whole batches.

`mix_batch` returns the (possibly mixed) images and soft targets; `soft_cross_entropy`
takes either hard labels or soft targets. Random draws come from the global torch
generator, whose state the checkpoints save, so a resumed run mixes the same way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _beta(alpha: float) -> float:
    # torch's Beta distribution draws from the global generator (numpy would need its own state).
    return float(torch.distributions.Beta(alpha, alpha).sample())


def mixup(x: torch.Tensor, y_soft: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Blend each image with a partner from the same batch (Zhang et al. 2018)."""
    lam = _beta(alpha)
    perm = torch.randperm(x.shape[0]).to(x.device)
    return x.mul(lam).add_(x[perm], alpha=1 - lam), y_soft.mul(lam).add_(y_soft[perm], alpha=1 - lam)


def cutmix(x: torch.Tensor, y_soft: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste a random box from a partner image (Yun et al. 2019); targets weighted by area."""
    lam = _beta(alpha)
    n, _, h, w = x.shape
    perm = torch.randperm(n).to(x.device)
    cut_h, cut_w = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
    cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, h)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, w)
    x = x.clone()
    x[:, :, y0:y1, x0:x1] = x[perm, :, y0:y1, x0:x1]
    area = (y1 - y0) * (x1 - x0) / (h * w)
    return x, y_soft.mul(1 - area).add_(y_soft[perm], alpha=area)


def mix_batch(x: torch.Tensor, y: torch.Tensor, num_classes: int, *, mixup_alpha: float = 0.0,
              cutmix_alpha: float = 0.0, prob: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and targets for one training step. With both alphas set, each batch picks one
    of the two at random (as timm does). Without either, the targets stay hard labels. With
    `prob` < 1 a batch is mixed with that probability only (seed 003's notebook: cutmix_prob 0.5)."""
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return x, y
    if prob < 1.0 and not bool(torch.rand(()) < prob):
        return x, y
    y_soft = F.one_hot(y, num_classes).to(x.dtype)
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or bool(torch.rand(()) < 0.5))
    if use_cutmix:
        return cutmix(x, y_soft, cutmix_alpha)
    return mixup(x, y_soft, mixup_alpha)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy against hard labels (int64) or soft targets (float), with label smoothing."""
    if target.dtype.is_floating_point:
        target = target.float()
    return F.cross_entropy(logits.float(), target, label_smoothing=smoothing)
