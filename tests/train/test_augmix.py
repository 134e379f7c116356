"""AugMix and the JSD loss (train/augmix.py) against the original (tests/reference/augmix.py):
the same operations on the same images and levels, the same loss on the same logits, the
original's operation list with none of the test corruptions, three views per step, and a run
that trains with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from kagglebench.train import augmix
from tests.reference import augmix as ref


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """48 real images: scikit-learn's handwritten digits, upscaled to 32x32, one colour each."""
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(0)
    out = []
    for im in load_digits().images[:48]:
        g = np.asarray(Image.fromarray((im * 15).astype(np.uint8)).resize((32, 32), Image.BILINEAR), np.float64)
        tint = rng.uniform(0.3, 1.0, 3)
        out.append(np.clip(g[..., None] * tint + rng.uniform(0, 60, 3), 0, 255).astype(np.uint8))
    return np.stack(out)


def _nchw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize("severity", [1, 3, 10])
def test_each_operation_matches_the_pil_original(images, severity):
    """Same image, same drawn level and sign: the original's PIL operation and ours agree pixel
    for pixel (at most one grey level off, on a handful of pixels)."""
    for name, op in zip(augmix.OPS, ref.augmentations):
        diffs = []
        for i, img in enumerate(images):
            np.random.seed(1000 * severity + i)
            level, negate = np.random.uniform(0.1, severity), np.random.uniform() > 0.5   # sample_level, sign
            np.random.seed(1000 * severity + i)
            want = np.asarray(op(Image.fromarray(img), severity)).astype(int)
            got = augmix.apply_op(name, _nchw(img[None]), torch.tensor([level], dtype=torch.float64),
                                  torch.tensor([negate]))[0].permute(1, 2, 0).numpy().astype(int)
            diffs.append(np.abs(want - got))
        d = np.stack(diffs)
        assert d.max() <= 1 and d.mean() < 0.005, (name, severity, d.max(), d.mean())


def test_operation_list_is_the_originals_and_holds_no_test_corruption():
    from kagglebench.data.corruptions import CORRUPTIONS

    assert len(CORRUPTIONS) == 19
    assert list(augmix.OPS) == [f.__name__ for f in ref.augmentations]          # the CIFAR default list
    left_out = {f.__name__ for f in ref.augmentations_all} - {f.__name__ for f in ref.augmentations}
    assert left_out == set(augmix.EXCLUDED)          # color, contrast, brightness, sharpness
    assert not set(augmix.OPS) & set(CORRUPTIONS)
    assert not set(augmix.OPS) & set(augmix.EXCLUDED)
    assert set(augmix.EXCLUDED.values()) <= set(CORRUPTIONS)


def test_mixing_draws_only_listed_operations_per_image(monkeypatch, images):
    from kagglebench.data.corruptions import CORRUPTIONS

    used: list[str] = []
    real_apply, real_affine = augmix.apply_op, augmix.affine_matrices

    def spy_apply(op, x, level, negate):
        used.append(op)
        return real_apply(op, x, level, negate)

    def spy_affine(op_ids, level, negate, size):
        used.extend(augmix.OPS[int(i)] for i in op_ids)
        return real_affine(op_ids, level, negate, size)

    monkeypatch.setattr(augmix, "apply_op", spy_apply)
    monkeypatch.setattr(augmix, "affine_matrices", spy_affine)
    torch.manual_seed(0)
    same = _nchw(np.repeat(images[:1], 32, axis=0))
    out = augmix.augment_and_mix(same)
    assert set(used) == set(augmix.OPS) and not set(used) & set(CORRUPTIONS)
    # every image draws its own chains and weights: 32 copies of one image come out 32 ways
    assert len({o.numpy().tobytes() for o in out}) == 32


def test_mix_is_as_strong_as_the_originals(images):
    """Over many draws, how far AugMix moves an image from the clean one: ours and the original's
    augment_and_mix (un-normalized back to grey levels) agree to within 10%."""
    np.random.seed(0)
    torch.manual_seed(0)
    mean, std = np.array(ref.MEAN) * 255, np.array(ref.STD) * 255
    theirs, ours = [], []
    for _ in range(6):
        for img in images:
            mixed = ref.augment_and_mix(img.astype(np.float32) / 255.0) * std + mean
            theirs.append(np.abs(mixed - img).mean())
        ours.append((augmix.augment_and_mix(_nchw(images)).float() - _nchw(images).float()).abs().mean().item())
    assert np.mean(ours) == pytest.approx(np.mean(theirs), rel=0.10), (np.mean(ours), np.mean(theirs))


def test_jsd_loss_matches_the_original_on_the_same_logits():
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(3 * 16, 10, generator=g) * 3).requires_grad_(True)
    targets = torch.randint(0, 10, (16,), generator=g)
    want = ref.jsd_loss(logits, targets, 16)
    got, clean = augmix.jsd_loss(logits, targets, weight=12.0)
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    assert torch.equal(clean, logits[:16])
    gw, = torch.autograd.grad(want, logits)
    gg, = torch.autograd.grad(augmix.jsd_loss(logits, targets, 12.0)[0], logits)
    assert torch.allclose(gw, gg, atol=1e-7)
    # the consistency term is there: identical views cost only the clean cross-entropy
    same = logits[:16].detach().repeat(3, 1)
    ce = torch.nn.functional.cross_entropy(same[:16], targets)
    assert augmix.jsd_loss(same, targets)[0].item() == pytest.approx(ce.item(), abs=1e-5)
    with pytest.raises(ValueError):
        augmix.jsd_loss(logits[:32], targets)


def test_jsd_gradient_stays_finite_where_a_softmax_underflows():
    """Logits 200 apart (a diverging early step of ResNet-18 at lr 0.1 reached 140): the original's
    kl_div(log_mix, p) has p log p's gradient 0 x inf = NaN there; ours stays finite."""
    g = torch.Generator().manual_seed(1)
    logits = (torch.randn(3 * 8, 10, generator=g) * 100).requires_grad_(True)
    targets = torch.randint(0, 10, (8,), generator=g)
    gw, = torch.autograd.grad(ref.jsd_loss(logits, targets, 8), logits)
    assert not torch.isfinite(gw).all()          # the original's numerics
    loss, _ = augmix.jsd_loss(logits, targets, 12.0)
    gg, = torch.autograd.grad(loss, logits)
    assert torch.isfinite(loss) and torch.isfinite(gg).all()


def test_training_step_sees_three_views_of_each_image(images):
    from kagglebench.config import load_recipe
    from kagglebench.train import loop

    recipe = load_recipe("demo-cnn", ["train.augmix=true"])
    aug = augmix.with_augmix(None, recipe)
    x = _nchw(images[:8])
    views = aug(x)
    assert views.shape[0] == 24 and torch.equal(views[:8], x)        # clean first, then two AugMix views
    assert not torch.equal(views[8:16], views[16:24])

    seen = []
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    model.register_forward_hook(lambda m, i, o: seen.append(i[0].shape[0]))
    parts = loop.Parts(model=model, raw=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.01),
                       device=torch.device("cpu"))
    loss, correct = loop.train_step(parts, views.float() / 255, torch.arange(8) % 10, recipe, 10)
    assert seen == [24] and torch.isfinite(loss) and 0 <= int(correct) <= 8


def test_jsd_refuses_mixup(images):
    from kagglebench.config import load_recipe
    from kagglebench.errors import UserError

    with pytest.raises(UserError, match="mixup"):
        augmix.with_augmix(None, load_recipe("demo-cnn", ["train.augmix=true", "train.mixup_alpha=0.2"]))
    one_view = augmix.with_augmix(None, load_recipe("demo-cnn", ["train.augmix=true", "train.jsd_weight=0"]))
    assert one_view(_nchw(images[:4])).shape[0] == 4


def test_augmix_with_jsd_trains(fresh_ws):
    from kagglebench.config import load_recipe
    from kagglebench.train.runner import train_run
    from kagglebench.workspace import Workspace

    ws = Workspace(fresh_ws)
    result = train_run(ws, load_recipe("demo-cnn", ["train.augmix=true", "epochs=1", "batch_size=100"]),
                       name="augmix")
    assert result["status"] == "finished", result
    assert result["best_val_acc"] is not None
    with ws.store() as st:
        cfg = st.get_run(result["id"])["config"]
    train = (cfg.get("recipe") or cfg)["train"]
    assert train["augmix"] is True and train["jsd_weight"] == 12.0


def test_ds542_robust_recipe_states_the_published_figures():
    from kagglebench.config import load_recipe

    r = load_recipe("ds542-robust")
    assert r.model.name == "resnet18" and r.model.cifar_stem and r.schedule.name == "cosine"
    assert r.train.augmix and r.train.jsd_weight == 12.0
    assert "51.9%" in r.description and "64.9%" in r.description


def test_ds542_robust_recipe_has_the_augmix_cifar_scripts_values():
    """Every value cifar.py sets (its argparse defaults and main()), read from the transcription;
    the model (WRN-40-2 there, ResNet-18 here) and the seed are the recipe's stated choices."""
    from kagglebench.config import load_recipe

    r, a = load_recipe("ds542-robust"), ref.CIFAR_ARGS
    assert (r.optim.name, r.optim.lr, r.optim.momentum, r.optim.weight_decay, r.optim.nesterov) == \
        ("sgd", a["learning_rate"], a["momentum"], a["decay"], ref.NESTEROV)
    assert (r.train.epochs, r.train.batch_size, r.train.drop_last) == (a["epochs"], a["batch_size"], False)
    assert r.train.augmix and r.train.augmix_severity == a["aug_severity"] and not a["no_jsd"]
    assert not a["all_ops"] and set(augmix.OPS) == {f.__name__ for f in ref.augmentations}
    aug = augmix.with_augmix(None, r)
    assert (aug.width, aug.depth, aug.alpha, aug.jsd) == (a["mixture_width"], a["mixture_depth"], 1.0, True)
    norm = ref.preprocess().transforms[1]
    assert (r.data.mean, r.data.std) == (list(norm.mean), list(norm.std))
    crop, flip = ref.train_transform().transforms[1], ref.train_transform().transforms[0]
    assert (r.data.crop_padding, r.data.pad_mode, r.data.hflip) == (crop.padding, "zeros", flip.p == 0.5)
    assert crop.padding_mode == "constant" and crop.fill == 0
    assert r.data.val_split == "test"          # cifar.py trains on all of train, tests every epoch


def test_ds542_robust_schedule_is_cifar_pys_cosine_to_1e6():
    """cifar.py's LambdaLR(get_lr(step, epochs * len(loader), 1, 1e-6 / lr)) x lr at every step of a
    run with its loader length (391 on 50,000 images, the last batch kept): ours ends at 0, not 1e-6."""
    from kagglebench.config import load_recipe
    from kagglebench.train.optim import lr_at

    r = load_recipe("ds542-robust")
    per_epoch = -(-50_000 // r.train.batch_size)
    total = r.train.epochs * per_epoch
    diffs = [abs(lr_at(s, base_lr=r.optim.lr, schedule=r.schedule, steps_per_epoch=per_epoch, total_steps=total)
                 - ref.lr_at(s, per_epoch)) for s in range(0, total, 7)]
    assert per_epoch == 391 and max(diffs) <= 1e-6 + 1e-12
    assert ref.lr_at(0, per_epoch) == pytest.approx(0.1) and ref.lr_at(total, per_epoch) == pytest.approx(1e-6)


def test_ds542_robust_crop_is_cifar_pys_zero_padded_random_crop(images):
    """Every crop the recipe's pipeline makes is one of the crops cifar.py's RandomCrop(32,
    padding=4) makes of the same image (all 81 offsets, drawn through the original transform):
    zeros at the borders. With reflection, as the recipe padded before, most crops are not."""
    from kagglebench.config import load_recipe
    from kagglebench.data.pipeline import random_crop

    r = load_recipe("ds542-robust")
    x = np.maximum(images[:16], 1)                   # no zero pixel of its own anywhere
    crop = ref.train_transform().transforms[1]
    originals = []
    for im in x:
        seen = set()
        for s in range(600):
            torch.manual_seed(s)
            seen.add(np.asarray(crop(Image.fromarray(im))).tobytes())
        assert len(seen) == 81
        originals.append(seen)

    def kept(mode: str) -> int:
        out = random_crop(_nchw(x), r.data.crop_padding, torch.Generator().manual_seed(0), mode)
        got = out.permute(0, 2, 3, 1).contiguous().numpy()
        return sum(got[i].tobytes() in originals[i] for i in range(len(x)))

    assert kept(r.data.pad_mode) == len(x)
    assert kept("reflect") < len(x) // 2
