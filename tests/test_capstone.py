"""The capstone grader: an honest oracle passes, a constant fails, bad models get clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidbook import capstone
from vidbook.capstone import GRADER_SEED, THRESHOLDS, GradeReport, grade
from vidbook.data import CLASSES, ActionOrNot, SynthActions
from vidbook.data.action import ACTION_CLASSES
from vidbook.data.synth import _SPLIT_OFFSET, DEFAULT_SIZES, DIFFICULTIES, _splitmix64, noise_bank

STATIC = CLASSES.index("static")
SMALL = dict(frames=4, height=16, width=16)  # for models that do not look at the pixels
ENERGY_THRESHOLD = 0.15


def motion_energy(clips: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) -> (B,): the largest change of a 2x2 cell's mean from the first frame."""
    cells = F.avg_pool3d(clips, (1, 2, 2))
    return (cells - cells[:, :, :1]).abs().amax(dim=(1, 2, 3, 4))


class MotionOracle(nn.Module):
    """Reads "action or not" from the pixels alone: in SynthActions a still actor changes no
    pixel but for the noise, a moving one changes many. Logits (B, 2): no_action, action."""

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        margin = motion_energy(clips) - ENERGY_THRESHOLD
        return torch.stack([-margin, margin], dim=1)


class Constant(nn.Module):
    """The same logits for every clip: always class ``answer`` of ``k``."""

    def __init__(self, k: int, answer: int) -> None:
        super().__init__()
        self.k, self.answer = k, answer

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return F.one_hot(torch.full((len(clips),), self.answer), self.k).float()


# --------------------------------------------------------------------------------------------
# The oracle: why it is exact here, and that it passes with a correct confusion matrix
# --------------------------------------------------------------------------------------------
def test_still_clips_stay_below_the_oracle_threshold_by_construction():
    # A still clip repeats one picture plus noise frames from a fixed bank, clamped to [0, 1].
    # Clamping is monotone: it can shrink a pixel's change, never flip its sign. So a 2x2 cell's
    # change is at most the noise level times the mean of the positive (or of the negative)
    # differences of two bank frames in that cell.
    bank = noise_bank(32, 32)  # (61, 3, 32, 32)
    positive = (bank[:, None] - bank[None]).clamp_min(0).flatten(0, 1)  # every ordered pair
    largest = F.avg_pool2d(positive, 2).amax().item()
    bound = DIFFICULTIES["medium"].noise * largest
    assert bound < ENERGY_THRESHOLD - 0.01, bound


def test_oracle_is_exact_on_the_grader_test_set_and_passes(capsys):
    report = grade(MotionOracle(), "action")  # the full default test set: 800 clips
    assert isinstance(report, GradeReport)
    assert report.accuracy == 1.0 and report.passed and report.num_clips == 800
    assert torch.equal(report.confusion, torch.tensor([[400, 0], [0, 400]]))
    assert report.per_class_recall == {"no_action": 1.0, "action": 1.0}
    assert report.threshold == THRESHOLDS["action"] and report.classes == ACTION_CLASSES
    out = capsys.readouterr().out
    assert "accuracy 100.0%" in out and "PASS" in out and "FAIL" not in out
    assert "threshold 90%" in out and "0 no_action" in out and "1 action" in out
    # The smallest moving clip's energy is well above the threshold, not by luck.
    ds = capstone.test_set("action")
    moving = ds.batch(np.arange(len(ds)))
    energy = motion_energy(moving["clip"])[moving["label"] == 1]
    assert energy.min().item() > ENERGY_THRESHOLD + 0.05


def test_oracle_is_exact_on_training_clips_too():
    view = ActionOrNot(SynthActions("train", size=1000))
    batch = view.batch(range(len(view)))
    pred = MotionOracle()(batch["clip"]).argmax(1)
    assert torch.equal(pred, batch["label"])


def test_a_model_with_known_answers_gives_the_confusion_matrix_rows_true():
    # Ten classes: "static" where the oracle sees no motion, else "move_left" (class 0).
    class StaticOrLeft(nn.Module):
        def forward(self, clips):
            moving = MotionOracle()(clips).argmax(1) == 1
            return F.one_hot(torch.where(moving, 0, STATIC), 10).float()

    report = grade(StaticOrLeft(), "classes", size=100, verbose=False)
    expected = torch.zeros(10, 10, dtype=torch.long)
    expected[:, 0] = 10  # every moving class's clips are called move_left ...
    expected[STATIC] = 0
    expected[STATIC, STATIC] = 10  # ... and the still ones static
    assert torch.equal(report.confusion, expected)
    assert report.accuracy == pytest.approx(0.2) and not report.passed
    recall = report.per_class_recall
    assert recall["move_left"] == 1.0 and recall["static"] == 1.0 and recall["grow"] == 0.0


# --------------------------------------------------------------------------------------------
# Models that must fail
# --------------------------------------------------------------------------------------------
def test_constant_models_score_chance_and_fail(capsys):
    action = grade(Constant(2, 1), "action", size=200, **SMALL)
    assert action.accuracy == 0.5 and not action.passed
    assert torch.equal(action.confusion, torch.tensor([[0, 100], [0, 100]]))
    assert action.per_class_recall == {"no_action": 0.0, "action": 1.0}
    out = capsys.readouterr().out
    assert "FAIL: accuracy 50.0% < threshold 90%" in out
    assert "a noisier score" in out  # fewer clips than the default
    classes = grade(Constant(10, 3), "classes", size=100, verbose=False, **SMALL)
    assert classes.accuracy == pytest.approx(0.1) and not classes.passed
    assert classes.confusion[:, 3].tolist() == [10] * 10 and classes.confusion.sum() == 100


def test_the_order_of_the_clips_does_not_reveal_their_labels():
    # SynthActions labels follow the index (class = index mod 10). A model that ignores the
    # pixels and counts clips would score 100 % on clips served in index order ...
    ds = capstone.test_set("classes", size=200, **SMALL)
    in_order = ds.batch(np.arange(200))["label"]
    assert torch.equal(in_order, torch.arange(200) % 10)

    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = 0

        def forward(self, clips):
            guess = (torch.arange(len(clips)) + self.seen) % 10
            self.seen += len(clips)
            return F.one_hot(guess, 10).float()

    # ... but the grader serves them shuffled.
    report = grade(Counter(), "classes", size=200, batch_size=32, verbose=False, **SMALL)
    assert report.accuracy < 0.2


def test_the_model_runs_in_eval_mode_without_gradients_and_its_modes_come_back():
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = nn.BatchNorm1d(2)

        def forward(self, clips):
            seen.append((self.training, self.norm.training, torch.is_grad_enabled()))
            return self.norm(clips.mean(dim=(2, 3, 4))[:, :2])

    model = Probe().train()
    grade(model, "action", size=20, verbose=False, **SMALL)
    assert seen and all(s == (False, False, False) for s in seen)
    assert model.training and model.norm.training
    assert model.norm.num_batches_tracked.item() == 0  # no running statistics from test clips


def test_a_plain_function_is_a_model_too():
    report = grade(lambda clips: MotionOracle()(clips), "action", size=40, verbose=False)
    assert report.accuracy == 1.0 and report.seconds > 0


# --------------------------------------------------------------------------------------------
# The test clips belong to the grader
# --------------------------------------------------------------------------------------------
def _keys(split: str, size: int, seed: int) -> np.ndarray:
    """The hash keys from which SynthActions draws the clips of a split (one per clip)."""
    index = np.arange(size, dtype=np.int64) + _SPLIT_OFFSET[split]
    return _splitmix64(index.astype(np.uint64) ^ _splitmix64(np.full(1, seed, np.uint64)))


def test_no_training_split_of_any_small_seed_holds_a_test_clip():
    graded = np.concatenate(
        [_keys("test", 5 * capstone.DEFAULT_SIZES["action"], GRADER_SEED)]
        + [_keys("test", capstone.DEFAULT_SIZES["classes"], GRADER_SEED)]
    )
    others = np.concatenate(
        [
            _keys(split, 100_000 if split == "train" else DEFAULT_SIZES[split], seed)
            for seed in range(20)
            for split in ("train", "val", "test")
        ]
    )
    assert len(np.intersect1d(graded, others)) == 0
    # ... and the book's test split (seed 0) is not the grader's
    mine = capstone.test_set("classes", size=10, **SMALL).batch(range(10))["clip"]
    book = SynthActions("test", size=10, **SMALL).batch(range(10))["clip"]
    assert all(not torch.equal(a, b) for a, b in zip(mine, book, strict=True))


def test_test_set_layout():
    action = capstone.test_set("action", size=100, frames=8, height=24, width=16)
    assert isinstance(action, ActionOrNot) and len(action) == 100
    assert action.world.seed == GRADER_SEED and action.world.split == "test"
    batch = action.batch(range(100))
    assert batch["clip"].shape == (100, 3, 8, 24, 16) and batch["label"].sum() == 50
    classes = capstone.test_set("classes")
    assert isinstance(classes, SynthActions) and len(classes) == 2000
    assert classes.seed == GRADER_SEED and classes.frames == 16 and classes.height == 32


def test_thresholds_lie_between_the_blind_models_and_the_solutions():
    # 50 %: a constant answer for "action"; 60 %: the best a model blind to the order of the
    # frames can do on "classes" (each time-reversed pair shares one class's worth of recall).
    assert 0.5 + 0.2 < THRESHOLDS["action"] < 1.0
    assert (4 + 2) / 10 + 0.1 < THRESHOLDS["classes"] < 1.0


# --------------------------------------------------------------------------------------------
# Bad input: clear errors
# --------------------------------------------------------------------------------------------
def test_unknown_task_lists_the_tasks():
    with pytest.raises(
        ValueError, match="unknown task 'colours'; the tasks are: 'action', 'classes'"
    ):
        grade(MotionOracle(), "colours")
    with pytest.raises(ValueError, match="unknown task"):
        capstone.test_set("Action")


def test_wrong_output_shape_says_what_came_and_what_is_expected():
    one_logit = lambda clips: torch.zeros(len(clips), 1)  # noqa: E731  (Keras: Dense(1, sigmoid))
    expected = (
        r"the model returned \(128, 1\) for a batch of 128 clips; "
        r"grade\('action'\) expects \(B, 2\) logits: no_action, action"
    )
    with pytest.raises(ValueError, match=expected) as err:
        grade(one_logit, "action", size=200, **SMALL)
    assert "torch.cat" in str(err.value)  # how to turn one logit into two
    with pytest.raises(ValueError, match=r"returned \(50, 2\).*\(B, 10\) logits: move_left, "):
        grade(Constant(2, 0), "classes", size=50, **SMALL)
    with pytest.raises(ValueError, match="num_classes=10"):
        grade(Constant(2, 0), "classes", size=50, **SMALL)
    with pytest.raises(ValueError, match=r"returned \(3, 2\) for a batch of 20 clips"):
        grade(lambda clips: torch.zeros(3, 2), "action", size=20, **SMALL)
    with pytest.raises(ValueError, match="returned a dict, not a tensor"):
        grade(lambda clips: {"logits": torch.zeros(len(clips), 2)}, "action", size=20, **SMALL)
    with pytest.raises(ValueError, match="torch.int64 values"):
        grade(lambda clips: torch.zeros(len(clips), 2, dtype=torch.long), size=20, **SMALL)


def test_non_finite_logits_are_an_error_not_a_score():
    def nan_model(clips):
        out = torch.zeros(len(clips), 2)
        out[1, 0] = float("nan")
        return out

    with pytest.raises(ValueError, match=r"non-finite logits \(nan\) for 1 of the 20 clips"):
        grade(nan_model, "action", size=20, **SMALL)
    with pytest.raises(ValueError, match=r"\(nan and inf\)"):
        grade(lambda c: torch.tensor([[float("nan"), float("inf")]]).expand(len(c), 2), size=20)


def test_a_model_must_be_callable():
    with pytest.raises(TypeError, match="grade needs a model: an nn.Module or a function.*got str"):
        grade("c3d")
    with pytest.raises(TypeError, match="got NoneType"):
        grade(None, "classes")


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("frames", 0, "frames must be an int >= 2, got 0"),
        ("frames", 1, "frames must be an int >= 2, got 1"),
        ("frames", 16.0, "frames must be an int >= 2, got 16.0"),
        ("height", -32, "height must be an int >= 8, got -32"),
        ("width", "32", "width must be an int >= 8, got '32'"),
        ("width", True, "width must be an int >= 8, got True"),
        ("batch_size", 0, "batch_size must be a positive int, got 0"),
        ("size", 101, "size must be even for 'action'"),
        ("size", 1, "size must be an int >= 2, got 1"),
        ("device", "gpu0", "device 'gpu0' is not a torch device"),
    ],
)
def test_bad_arguments(argument, value, message):
    with pytest.raises(ValueError, match=message):
        grade(MotionOracle(), "action", **{argument: value})


def test_bad_test_set_arguments():
    with pytest.raises(ValueError, match="size must be an int >= 10, got 9"):
        capstone.test_set("classes", size=9)
    with pytest.raises(ValueError, match="frames must be an int >= 2, got -1"):
        capstone.test_set("classes", frames=-1)
    with pytest.raises(ValueError, match="difficulty='extreme' is not valid"):
        capstone.test_set("classes", difficulty="extreme")
