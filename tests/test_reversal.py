"""The reversal test: accuracy on clips and on the same clips played backwards."""

import pytest
import torch
from torch import nn

from vidbook.data.synth import CLASSES, TIME_REVERSED, SynthActions
from vidbook.errors import BadValueError
from vidbook.eval.reversal import reversal_test

SMALL = {"frames": 4, "height": 16, "width": 16}


@pytest.fixture(scope="module")
def val_set():
    return SynthActions("val", size=64, **SMALL)


class Constant(nn.Module):
    """Says class ``k`` for every clip; has a dropout layer so that its mode matters."""

    def __init__(self, k, num_classes=10):
        super().__init__()
        self.k, self.num_classes = k, num_classes
        self.drop = nn.Dropout(0.5)
        self.seen = []

    def forward(self, clips):
        self.seen.append(tuple(clips.shape))
        logits = torch.zeros(clips.shape[0], self.num_classes)
        logits[:, self.k] = 1.0
        return logits


class TimeBlind(nn.Module):
    """Max over time, then a linear layer: exactly the same logits for a clip and its reversal."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(3 * 16 * 16, len(CLASSES))

    def forward(self, clips):
        return self.head(clips.amax(2).flatten(1))


def expected_constant_accuracy(dataset, n, k):
    # Independently of the code under test: labels by name, reversal by the TIME_REVERSED table.
    names = [CLASSES[int(dataset[i]["label"])] for i in range(n)]
    kept = [name for name in names if TIME_REVERSED[name] != name]
    hits = sum(name == CLASSES[k] for name in kept)
    hits += sum(TIME_REVERSED[name] == CLASSES[k] for name in kept)
    return hits / (2 * len(kept))


@pytest.mark.parametrize(("k", "n"), [(0, 64), (CLASSES.index("grow"), 37)])
def test_constant_model_scores_the_share_of_its_class(val_set, k, n, one_thread):
    want = expected_constant_accuracy(val_set, n, k)
    assert want > 0
    assert reversal_test(Constant(k), val_set, n=n, batch_size=16) == pytest.approx(want)


def test_self_reversed_classes_are_dropped(val_set, one_thread):
    # "static" maps to itself: a model that always says "static" is never counted right.
    assert reversal_test(Constant(CLASSES.index("static")), val_set, n=64) == 0.0


def test_batch_size_does_not_change_the_result(val_set, one_thread):
    model = TimeBlind()
    results = {reversal_test(model, val_set, n=50, batch_size=b) for b in (1, 7, 50, 250)}
    assert len(results) == 1


def test_a_model_blind_to_frame_order_scores_at_most_one_half(val_set, one_thread):
    assert 0.0 <= reversal_test(TimeBlind(), val_set, n=64) <= 0.5


def test_batches_and_mode_are_restored(val_set, one_thread):
    model = Constant(1).train()
    model.drop.eval()
    reversal_test(model, val_set, n=20, batch_size=8)
    assert model.training and not model.drop.training
    # 8 + 8 + 4 clips, each forwards and backwards.
    assert [s[0] for s in model.seen] == [8, 8, 8, 8, 4, 4]
    assert model.seen[0][1:] == (3, 4, 16, 16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, r"n must be an int >= 1, got 0"),
        ({"n": 2.0}, r"n must be an int >= 1, got 2\.0"),
        ({"n": True}, r"n must be an int >= 1, got True"),
        ({"n": 65}, r"n must be an int <= len\(dataset\) = 64, got 65"),
        ({"n": 4, "batch_size": 0}, r"batch_size must be an int >= 1"),
        ({"n": 4, "device": "nonsense"}, r"device 'nonsense' is not a torch device"),
    ],
)
def test_bad_arguments_say_what_was_expected(val_set, kwargs, message):
    with pytest.raises(BadValueError, match=message):
        reversal_test(Constant(0), val_set, **kwargs)


def test_bad_model_dataset_or_output(val_set):
    with pytest.raises(BadValueError, match="model must be a torch.nn.Module"):
        reversal_test(lambda clips: clips, val_set, n=4)
    with pytest.raises(BadValueError, match="dataset must be a SynthActions"):
        reversal_test(Constant(0), [1, 2, 3], n=2)
    with pytest.raises(BadValueError, match=r"logits \(B, num_classes\)"):
        reversal_test(nn.Identity(), val_set, n=4)


def test_only_self_reversed_classes_is_an_error():
    # A stand-in dataset whose clips are all "static": nothing is left to count.
    class OnlyStatic:
        time_reversed_label = staticmethod(SynthActions.time_reversed_label)

        def __len__(self):
            return 3

        def batch(self, indices, device=None, captions=True):
            count = len(indices)
            return {
                "clip": torch.zeros(count, 3, 4, 16, 16),
                "label": torch.full((count,), CLASSES.index("static")),
            }

    with pytest.raises(BadValueError, match="none of the first 3 clips"):
        reversal_test(Constant(0), OnlyStatic(), n=3)
