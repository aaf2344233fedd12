"""The capstone grader: an honest oracle passes; constants, counters, lookup tables and models
that read the grader's memory fail; bad models get clear errors."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidbook.data import CLASSES, ActionOrNot, SynthActions
from vidbook.data.action import ACTION_CLASSES
from vidbook.data.synth import (
    _SPLIT_OFFSET,
    DEFAULT_SIZES,
    DIFFICULTIES,
    ClipParams,
    _splitmix64,
    noise_bank,
)
from vidbook.eval import capstone
from vidbook.eval import capstone_server as server
from vidbook.eval.capstone import GRADER_SEED, THRESHOLDS, GradeReport, grade

STATIC = CLASSES.index("static")
SMALL = dict(frames=4, height=16, width=16)  # for models that do not look at the pixels
ENERGY_THRESHOLD = 0.15
K = {"action": 2, "classes": 10}
# A submission that does not look at the pixels scores about 1 / K. These bounds lie more than
# four standard errors above chance at 400 clips, and far below the thresholds.
CHANCE_BOUND = {"action": 0.62, "classes": 0.2}


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


class StaticOrLeft(nn.Module):
    """Ten classes: "static" where the oracle sees no motion, else "move_left" (class 0)."""

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        moving = MotionOracle()(clips).argmax(1) == 1
        return F.one_hot(torch.where(moving, 0, STATIC), 10).float()


def quantised(clips: torch.Tensor) -> torch.Tensor:
    """Float clips in [0, 1] as the grader sends them: uint8, round(255 * pixel)."""
    return clips.mul(255).round().to(torch.uint8)


# --------------------------------------------------------------------------------------------
# The oracle: why it is exact here, and that it passes with a correct confusion matrix
# --------------------------------------------------------------------------------------------
def test_still_clips_stay_below_the_oracle_threshold_by_construction():
    # A still clip repeats one picture plus noise frames from a fixed bank, clamped to [0, 1].
    # Clamping is monotone: it can shrink a pixel's change, never flip its sign. So a 2x2 cell's
    # change is at most the noise level times the mean of the positive (or of the negative)
    # differences of two bank frames in that cell; rounding to 1/255 adds at most 1/255.
    bank = noise_bank(32, 32)  # (61, 3, 32, 32)
    positive = (bank[:, None] - bank[None]).clamp_min(0).flatten(0, 1)  # every ordered pair
    largest = F.avg_pool2d(positive, 2).amax().item()
    bound = DIFFICULTIES["medium"].noise * largest + 1 / 255
    assert bound < ENERGY_THRESHOLD - 0.01, bound


def test_oracle_is_exact_on_the_graded_clips_and_passes(capsys):
    report = grade(MotionOracle(), "action")  # the full default size: 800 clips
    assert isinstance(report, GradeReport)
    assert report.accuracy == 1.0 and report.passed and report.num_clips == 800
    assert torch.equal(report.confusion, torch.tensor([[400, 0], [0, 400]]))
    assert report.per_class_recall == {"no_action": 1.0, "action": 1.0}
    assert report.threshold == THRESHOLDS["action"] and report.classes == ACTION_CLASSES
    assert 0 <= report.seed < 2**31 and report.seconds > 0
    out = capsys.readouterr().out
    assert "accuracy 100.0%" in out and "PASS" in out and "FAIL" not in out
    assert "threshold 90%" in out and "0 no_action" in out and "1 action" in out
    assert f"seed {report.seed} " in out and f"seed={report.seed})" in out
    # Once the seed is known, anyone can render the graded clips: the smallest moving clip's
    # energy is well above the threshold, not by luck.
    clips, labels = server.grading_batch("action", report.seed, 800, 0, 800)
    energy = motion_energy(clips.float() / 255)
    assert energy[labels == 1].min().item() > ENERGY_THRESHOLD + 0.05
    assert energy[labels == 0].max().item() < ENERGY_THRESHOLD - 0.01


def test_oracle_is_exact_on_training_clips_too():
    view = ActionOrNot(SynthActions("train", size=1000))
    batch = view.batch(range(len(view)))
    pred = MotionOracle()(batch["clip"]).argmax(1)
    assert torch.equal(pred, batch["label"])


def test_a_model_with_known_answers_gives_the_confusion_matrix_rows_true():
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
# The labels of a grade: balanced, and no function of a public number
# --------------------------------------------------------------------------------------------
def test_grade_labels_are_balanced_and_follow_the_seed_not_the_clip_number():
    classes = server.world_labels("classes", 2000, seed=123)
    assert np.bincount(classes, minlength=10).tolist() == [200] * 10
    assert abs(np.mean(classes == np.arange(2000) % 10) - 0.1) < 0.03  # not index mod 10
    action = server.world_labels("action", 800, seed=123)
    counts = np.bincount(action, minlength=10)
    assert counts[STATIC] == 400  # half of the clips still ...
    moving = np.delete(counts, STATIC)
    assert moving.sum() == 400 and moving.max() - moving.min() <= 1  # ... and the motions even
    assert server.task_labels("action", action).sum() == 400
    # The same seed gives the same labels; another seed, others (about 1 in 10 the same).
    assert np.array_equal(classes, server.world_labels("classes", 2000, seed=123))
    assert np.mean(classes == server.world_labels("classes", 2000, seed=124)) < 0.15
    # The first clips of a grade are not sorted, nor of one class, for any seed.
    firsts = np.stack([server.world_labels("classes", 100, seed=s)[:10] for s in range(50)])
    assert all(len(set(row)) > 3 for row in firsts)
    assert np.bincount(firsts[:, 0], minlength=10).max() < 15


def test_the_graded_clips_show_their_labels_and_a_known_seed_repeats_them():
    clips, labels = server.grading_batch("classes", 77, 40, 0, 40)
    assert clips.dtype == torch.uint8 and clips.shape == (40, 3, 16, 32, 32)
    assert np.array_equal(labels, server.world_labels("classes", 40, 77))
    moving = MotionOracle()(clips.float() / 255).argmax(1).numpy() == 1
    assert np.array_equal(moving, labels != STATIC)
    again, _ = server.grading_batch("classes", 77, 40, 10, 20)  # a batch of the same grade
    assert torch.equal(again, clips[10:20])
    other, _ = server.grading_batch("classes", 78, 40, 0, 40)
    assert all(not torch.equal(a, b) for a, b in zip(clips, other, strict=True))


# --------------------------------------------------------------------------------------------
# Submissions that must fail
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


class Counter(nn.Module):
    """(A): ignores the pixels and answers ``labels[i]`` for the i-th clip it is shown."""

    def __init__(self, labels: np.ndarray, k: int) -> None:
        super().__init__()
        self.labels, self.k, self.seen = torch.as_tensor(labels), k, 0

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        guess = self.labels[self.seen : self.seen + len(clips)]
        self.seen += len(clips)
        return F.one_hot(guess, self.k).float()


def counter_guesses(strategy: str, task: str, n: int) -> np.ndarray:
    """What a counting submission expects the labels of a grade of ``n`` clips to be."""
    if strategy == "index mod 10":  # the class of SynthActions clip i
        world = np.arange(n) % 10
        return server.task_labels(task, world)
    if strategy == "public seed":  # the grader's own labels, with the public GRADER_SEED
        return server.task_labels(task, server.world_labels(task, n, GRADER_SEED))
    # "former order": test_set() (GRADER_SEED) served in an order shuffled with GRADER_SEED
    ds = capstone.test_set(task, size=n, **SMALL)
    if isinstance(ds, ActionOrNot):
        labels = server.task_labels(task, ds.world.label_of(ds.indices))
    else:
        labels = ds.label_of(np.arange(n))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(GRADER_SEED))
    return labels[order.numpy()]


@pytest.mark.parametrize(
    ("strategy", "task"),
    [("index mod 10", "classes"), ("public seed", "classes"), ("former order", "action")],
)
def test_a_submission_that_counts_its_calls_fails(strategy, task):
    n = 400
    guesses = counter_guesses(strategy, task, n)
    # The counter knows its target: on clips labelled as it assumes, it would score 100 %.
    if strategy == "former order":
        ds = capstone.test_set(task, size=n, **SMALL)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(GRADER_SEED))
        served = ds.batch(order[:64].numpy())["label"]
        assert torch.equal(served, torch.as_tensor(guesses[:64]))
    model = Counter(guesses, K[task])
    report = grade(model, task, size=n, batch_size=32, verbose=False, **SMALL)
    assert model.seen == n
    assert report.accuracy < CHANCE_BOUND[task] and not report.passed, report.accuracy


class LookupTable(nn.Module):
    """(B): remembers clips (hash of their uint8 pixels -> label) and answers from memory."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.table, self.hits = k, {}, 0

    @staticmethod
    def key(clip: torch.Tensor) -> str:
        return hashlib.sha1(quantised(clip).numpy().tobytes()).hexdigest()

    def learn(self, clips: torch.Tensor, labels) -> None:
        for clip, label in zip(clips, torch.as_tensor(labels), strict=True):
            self.table[self.key(clip)] = int(label)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        found = [self.table.get(self.key(clip)) for clip in clips.cpu()]
        self.hits += sum(label is not None for label in found)
        guess = torch.tensor([0 if label is None else label for label in found])
        return F.one_hot(guess, self.k).float()


@pytest.mark.parametrize("task", ["action", "classes"])
def test_a_lookup_table_of_public_clips_fails(task):
    n = 400
    model = LookupTable(K[task])
    public = capstone.test_set(task, **SMALL)  # the default size and seed: GRADER_SEED
    batch = public.batch(np.arange(len(public)))
    model.learn(batch["clip"], batch["label"])
    clips, labels = server.grading_batch(task, GRADER_SEED, n, 0, n, **SMALL)  # a public grade
    model.learn(clips.float() / 255, labels)
    assert len(model.table) == len(public) + n
    # The table works: shown the clips it remembers, it answers them all.
    assert torch.equal(model(batch["clip"][:50]).argmax(1), batch["label"][:50])
    assert torch.equal(model(clips[:50].float() / 255).argmax(1), torch.as_tensor(labels[:50]))
    model.hits = 0
    report = grade(model, task, size=n, verbose=False, **SMALL)
    assert model.hits == 0  # no graded clip was ever public
    assert report.accuracy < CHANCE_BOUND[task] and not report.passed, report.accuracy


class FrameSpy(nn.Module):
    """(C): walks up the call stack from ``forward`` and answers with whatever labels it finds
    in a caller's local variables: label tensors or arrays, batches, clip parameters, or a seed
    (from which it renders the grade's labels)."""

    NAMES = ("labels", "label", "truth", "targets", "answers", "batch", "params", "confusion")

    def __init__(self, task: str, size: int) -> None:
        super().__init__()
        self.task, self.size, self.seen, self.hits = task, size, 0, 0

    def _labels(self, name: str, value: object, n: int) -> torch.Tensor | None:
        if name == "seed" and isinstance(value, int) and not isinstance(value, bool):
            labels = server.world_labels(self.task, self.size, value)
            return torch.as_tensor(server.task_labels(self.task, labels))[self.seen :][:n]
        if isinstance(value, dict):
            value = value.get("label")
        if isinstance(value, ClipParams):
            value = value.label
        if isinstance(value, (np.ndarray, torch.Tensor)) and tuple(value.shape) == (n,):
            return torch.as_tensor(value).long().clamp(0, K[self.task] - 1)
        return None

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        n, frame, found = len(clips), sys._getframe(1), None
        while frame is not None and found is None:
            for name, value in list(frame.f_locals.items()):
                if name in (*self.NAMES, "seed"):
                    found = self._labels(name, value, n)
                    if found is not None:
                        break
            frame = frame.f_back
        self.seen += n
        self.hits += found is not None
        guess = torch.zeros(n, dtype=torch.long) if found is None else found
        return F.one_hot(guess, K[self.task]).float()


def in_process_grade(model: nn.Module, batches: list[tuple[torch.Tensor, np.ndarray]]) -> float:
    """A grader that keeps the answers in its own process, as a grader naively would:
    the accuracy of ``model`` on (uint8 clips, labels) batches."""
    right = total = 0
    for clips, labels in batches:
        right += int((model(clips.float() / 255).argmax(1).numpy() == labels).sum())
        total += len(labels)
    return right / total


def run_with_seed_in_sight(model: nn.Module, task: str, n: int, seed: int) -> torch.Tensor:
    """The classes (n,) ``model`` predicts where a caller's local variable holds the seed of
    the clips, but no label."""
    clips, labels = server.grading_batch(task, seed, n, 0, n, **SMALL)
    del labels
    return model(clips.float() / 255).argmax(1)


@pytest.mark.parametrize("task", ["action", "classes"])
def test_a_model_that_reads_the_graders_memory_fails(task):
    n = 400
    # Where a grader holds the labels, or the seed, in the model's process, the spy wins ...
    batches = [server.grading_batch(task, 5, n, i, i + 50, **SMALL) for i in range(0, n, 50)]
    spy = FrameSpy(task, n)
    assert in_process_grade(spy, batches) == 1.0 and spy.hits == n // 50
    spy = FrameSpy(task, n)
    predicted = run_with_seed_in_sight(spy, task, n, seed=6).numpy()
    assert np.array_equal(predicted, server.task_labels(task, server.world_labels(task, n, 6)))
    # ... against the real grader it finds nothing: the answers are in another process.
    spy = FrameSpy(task, n)
    report = grade(spy, task, size=n, verbose=False, **SMALL)
    assert spy.seen == n and spy.hits == 0
    assert report.accuracy < CHANCE_BOUND[task] and not report.passed, report.accuracy


# --------------------------------------------------------------------------------------------
# The seed: new for every grade, printed, and a way to repeat one
# --------------------------------------------------------------------------------------------
class Recorder(nn.Module):
    """Keeps every clip it is shown; answers from the pixels (the class of its mean colour)."""

    def __init__(self) -> None:
        super().__init__()
        self.clips: list[torch.Tensor] = []

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        self.clips.append(clips.clone())
        level = (clips.mean(dim=(1, 2, 3, 4)) * 40).long() % 10
        return F.one_hot(level, 10).float()

    def seen(self) -> torch.Tensor:
        return torch.cat(self.clips)


@pytest.fixture(scope="module")
def three_grades():
    """Two grades with new seeds, and a third that repeats the first with its seed."""
    models = [Recorder() for _ in range(3)]
    first = grade(models[0], "classes", size=100, verbose=False, **SMALL)
    second = grade(models[1], "classes", size=100, verbose=False, **SMALL)
    again = grade(models[2], "classes", size=100, seed=first.seed, verbose=False, **SMALL)
    return models, (first, second, again)


def test_a_seed_from_a_report_repeats_that_grade(three_grades):
    (model, _, model_again), (first, _, again) = three_grades
    assert again.seed == first.seed
    assert torch.equal(model_again.seen(), model.seen())  # the same clips ...
    assert torch.equal(again.confusion, first.confusion)  # ... with the same labels
    assert again.accuracy == first.accuracy and again.per_class_recall == first.per_class_recall
    assert f"seed {first.seed} " in first.summary()
    assert f"grade(model, 'classes', seed={first.seed})" in first.summary()
    # The clips as the model sees them: float in [0, 1], multiples of 1/255.
    clips = model.seen()
    assert clips.dtype == torch.float32 and clips.shape == (100, 3, 4, 16, 16)
    assert 0 <= clips.min() and clips.max() <= 1
    assert torch.allclose(clips * 255, (clips * 255).round(), atol=1e-4)
    rendered, _ = server.grading_batch("classes", first.seed, 100, 0, 100, **SMALL)
    assert torch.equal(quantised(clips), rendered)


def test_two_grades_without_a_seed_draw_different_seeds_and_clips(three_grades):
    (model, other, _), (first, second, _) = three_grades
    assert first.seed != second.seed
    assert all(not torch.equal(a, b) for a, b in zip(model.seen(), other.seen(), strict=True))


def test_the_graded_clips_are_new_to_every_split():
    # The grade's clips have numbers of their own, beyond every split's range ...
    assert server.GRADING_OFFSET >= max(_SPLIT_OFFSET.values()) + (1 << 40)

    def keys(first: int, size: int, seed: int) -> np.ndarray:
        """The hash keys from which SynthActions draws clips first .. first + size - 1."""
        index = np.arange(size, dtype=np.int64) + first
        return _splitmix64(index.astype(np.uint64) ^ _splitmix64(np.full(1, seed, np.uint64)))

    # ... and no clip of a split with a small seed has the key of a graded clip.
    graded = np.concatenate(
        [keys(server.GRADING_OFFSET, 2000, seed) for seed in (GRADER_SEED, 1, 2**31 - 1, 77)]
    )
    others = np.concatenate(
        [
            keys(_SPLIT_OFFSET[split], 100_000 if split == "train" else DEFAULT_SIZES[split], s)
            for s in range(20)
            for split in ("train", "val", "test")
        ]
    )
    assert len(np.intersect1d(graded, others)) == 0
    # test_set(), to look at, is not the book's test split (seed 0) either.
    mine = capstone.test_set("classes", size=10, **SMALL).batch(range(10))["clip"]
    book = SynthActions("test", size=10, **SMALL).batch(range(10))["clip"]
    assert all(not torch.equal(a, b) for a, b in zip(mine, book, strict=True))


# --------------------------------------------------------------------------------------------
# The grader's modes, and its other process
# --------------------------------------------------------------------------------------------
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


def test_the_child_process_speaks_only_after_the_predictions():
    # The child's side, in this process: a request and the predictions go in ...
    inp, out = io.BytesIO(), io.BytesIO()
    request = dict(kind="request", task="action", size=20, frames=4, height=16, width=16)
    server.send(inp, {**request, "batch_size": 8, "seed": 31})
    server.send(inp, {"kind": "predictions", "n": 20}, np.ones(20, dtype="<i8").data)
    inp.seek(0)
    server.serve(inp, out)
    out.seek(0)
    # ... and out come three batches of clips with no label, then the confusion and the seed.
    messages = []
    while out.tell() < len(out.getvalue()):
        messages.append(server.receive(out))
    kinds = [header["kind"] for header, _ in messages]
    assert kinds == ["clips", "clips", "clips", "done", "result"]
    assert [header["shape"][0] for header, _ in messages[:3]] == [8, 8, 4]
    assert all(set(header) == {"kind", "start", "shape"} for header, _ in messages[:3])
    clips = torch.cat(
        [torch.frombuffer(p, dtype=torch.uint8).view(h["shape"]) for h, p in messages[:3]]
    )
    expected, labels = server.grading_batch("action", 31, 20, 0, 20, **SMALL)
    assert torch.equal(clips, expected)
    result = messages[-1][0]
    assert result["seed"] == 31
    assert result["confusion"] == [[0, int((labels == 0).sum())], [0, int((labels == 1).sum())]]
    # Predictions out of range are refused.
    inp = io.BytesIO()
    server.send(inp, {**request, "batch_size": 20, "seed": 31})
    server.send(inp, {"kind": "predictions", "n": 20}, np.full(20, 2, dtype="<i8").data)
    inp.seek(0)
    with pytest.raises(ValueError, match=r"predictions must be classes 0\.\.1, got 2 to 2"):
        server.serve(inp, io.BytesIO())


def test_the_child_reports_a_bad_request_and_exits():
    with tempfile.TemporaryFile() as stderr:
        child = server.start_child(stderr)
        request = dict(kind="request", task="colours", size=20, frames=4, height=16, width=16)
        server.send(child.stdin, {**request, "batch_size": 8, "seed": None})
        header, _ = server.receive(child.stdout)
        assert header == {"kind": "error", "message": "ValueError: unknown task 'colours'"}
        assert child.wait(timeout=60) == 1
        child.stdin.close()
        child.stdout.close()


def test_a_child_that_dies_is_an_error_with_its_last_words(monkeypatch):
    def dying_child(stderr):
        script = "import sys; sys.stderr.write('out of memory'); sys.exit(3)"
        pipe = subprocess.PIPE
        return subprocess.Popen(
            [sys.executable, "-c", script], stdin=pipe, stdout=pipe, stderr=stderr
        )

    monkeypatch.setattr(server, "start_child", dying_child)
    message = r"stopped .* \(exit code 3\); its last words:\nout of memory"
    with pytest.raises(RuntimeError, match=message):
        grade(MotionOracle(), "action", size=20, **SMALL)


def test_a_failing_model_leaves_no_child_behind(monkeypatch):
    children = []
    start = server.start_child

    def recording_start(stderr):
        children.append(start(stderr))
        return children[-1]

    def broken(clips):
        raise RuntimeError("the model broke")

    monkeypatch.setattr(server, "start_child", recording_start)
    with pytest.raises(RuntimeError, match="the model broke"):
        grade(broken, "action", size=20, **SMALL)
    assert len(children) == 1 and children[0].poll() is not None


# --------------------------------------------------------------------------------------------
# test_set: clips to look at
# --------------------------------------------------------------------------------------------
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
    assert all(CHANCE_BOUND[task] < THRESHOLDS[task] - 0.2 for task in THRESHOLDS)


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
    # The other checks of the output, without a grade (each grade starts a process).
    check = capstone._check_logits
    with pytest.raises(
        ValueError, match=r"returned \(50, 2\).*\(B, 10\) logits: move_left, "
    ) as err:
        check(torch.zeros(50, 2), 50, "classes", 0)
    assert "num_classes=10" in str(err.value)
    with pytest.raises(ValueError, match=r"returned \(3, 2\) for a batch of 20 clips"):
        check(torch.zeros(3, 2), 20, "action", 0)
    with pytest.raises(ValueError, match="returned a dict, not a tensor"):
        check({"logits": torch.zeros(20, 2)}, 20, "action", 0)
    with pytest.raises(ValueError, match="torch.int64 values"):
        check(torch.zeros(20, 2, dtype=torch.long), 20, "action", 0)
    logits = torch.randn(20, 10, dtype=torch.float64)
    assert torch.equal(check(logits, 20, "classes", 0), logits.float())


def test_non_finite_logits_are_an_error_not_a_score():
    def nan_model(clips):
        out = torch.zeros(len(clips), 2)
        out[1, 0] = float("nan")
        return out

    message = r"non-finite logits \(nan\) for 1 of the 20 clips of the batch that starts at clip 0"
    with pytest.raises(ValueError, match=message):
        grade(nan_model, "action", size=20, **SMALL)
    both = torch.tensor([[float("nan"), float("inf")]]).expand(8, 2)
    with pytest.raises(ValueError, match=r"\(nan and inf\) for 8 of the 8 clips.* at clip 16 "):
        capstone._check_logits(both, 8, "action", 16)


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
        ("batch_size", 0, "batch_size must be an int >= 1, got 0"),
        ("size", 101, "size must be even for 'action'"),
        ("size", 1, "size must be an int >= 2, got 1"),
        ("seed", -1, r"seed must be None \(draw a new one\) or an int in \[0, 2\*\*31\)"),
        ("seed", 2**31, r"an int in \[0, 2\*\*31\) from an earlier report, got 2147483648"),
        ("seed", "42", "got '42'"),
        ("seed", 4.0, "got 4.0"),
        ("device", "gpu0", "device 'gpu0' is not a torch device"),
        ("device", "cuda:7", "device 'cuda:7' is not available"),
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
