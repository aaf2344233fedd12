"""The attributes task: three heads on one encoder, their loss, accuracy and features."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import vidbook
from vidbook.errors import BadValueError
from vidbook.train import RunSpec, run
from vidbook.train.attributes import ATTRIBUTES, Attributes, attribute_features, split_logits


def test_the_loss_is_the_sum_of_the_three_cross_entropies_and_all_three_must_be_right():
    logits = torch.randn(4, 23, generator=torch.Generator().manual_seed(0))
    targets = {"action": torch.tensor([0, 1, 2, 3]), "colour": torch.tensor([7, 6, 5, 4]),
               "shape": torch.tensor([0, 1, 2, 4])}  # fmt: skip
    expected = (F.cross_entropy(logits[:, :10], targets["action"])
                + F.cross_entropy(logits[:, 10:18], targets["colour"])
                + F.cross_entropy(logits[:, 18:], targets["shape"]))  # fmt: skip
    assert torch.allclose(Attributes().loss(logits, targets), expected)
    perfect = torch.zeros(4, 23)
    for k, offset in zip(ATTRIBUTES, (0, 10, 18), strict=True):
        perfect[torch.arange(4), offset + targets[k]] = 1.0
    assert int(Attributes().correct(perfect, targets)) == 4
    perfect[0, 18 + targets["shape"][0]] = -1.0  # one attribute wrong: the item is wrong
    assert int(Attributes().correct(perfect, targets)) == 3


def test_bad_logits_and_batches_are_refused():
    with pytest.raises(BadValueError, match=r"expected \(B, 23\)"):
        split_logits(torch.zeros(2, 10))
    with pytest.raises(BadValueError, match="missing \\['colour', 'shape'\\]"):
        Attributes().unpack({"clip": torch.zeros(1), "label": torch.zeros(1)})


def test_a_tiny_run_trains_scores_each_attribute_and_gives_a_feature_grid(tmp_path):
    result = run(RunSpec(model="c3d", task="attributes", clip_shape=vidbook.ClipShape(8, 16, 16),
                         train_size=64, val_size=32, test_size=40, epochs=1, batch_size=16,
                         difficulty="easy", checkpoint_dir=str(tmp_path), progress=False,
                         report=True))  # fmt: skip
    test = result.report["test"]
    assert test["clips"] == 40
    assert set(test) >= {"acc_action", "acc_colour", "acc_shape", "acc_all"}
    assert test["acc_all"] <= min(test["acc_action"], test["acc_colour"], test["acc_shape"])
    clips = torch.rand(3, 3, 8, 16, 16)
    features = attribute_features(result.trainer.model.eval(), clips)
    assert features.shape == (3, 2, 4, 4, 96)  # (B, T', H', W', D): time 8 -> 2, space 16 -> 4
