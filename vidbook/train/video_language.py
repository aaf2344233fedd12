"""Training and scoring the video-language model on cached video features.

The video encoder is frozen, so its features are computed once (:func:`encode_clips`) and every
step of the language model reads them from memory, as LLaVA's and Video-ChatGPT's projector
training do. :class:`RequestLoader` serves batches of instructions (``vidbook.data.instructions``)
with the features of their clips; :class:`NextWordOnAnswers` is the language-model loss on the
answer words; :func:`exact_match` decodes every answer greedily and compares it, word for word,
with the truth. :class:`AnswerClasses` trains the classifier of chapter 7's video QA (one class
per answer seen in training) on the same features and questions, for comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.data.tokenizer import WordTokenizer
from vidbook.errors import BadValueError
from vidbook.runtime import eval_mode
from vidbook.train.objective import Objective
from vidbook.train.trainer import Trainer

IGNORE = -100  # cross_entropy's ignore index: positions that are not part of an answer


@torch.no_grad()
def encode_clips(
    encoder: Callable[[torch.Tensor], torch.Tensor], clips: torch.Tensor, batch_size: int = 250
) -> torch.Tensor:
    """``encoder`` over ``clips`` (N, C, T, H, W) in batches, without gradients: (N, ...)."""
    return torch.cat([encoder(clips[s : s + batch_size]) for s in range(0, len(clips), batch_size)])


class RequestLoader:
    """Shuffled batches ``{"features", "text", "target", "prompt_length", "answer_class"}`` of
    ``requests`` (from :func:`vidbook.data.instructions.instructions`) about clips whose
    features are ``features`` (N, T', H', W', D). A new order every epoch (``set_epoch``)."""

    def __init__(self, features: torch.Tensor, requests: dict, batch_size: int = 64,
                 seed: int = 0, shuffle: bool = True) -> None:  # fmt: skip
        if int(requests["clip"].max()) >= len(features):
            raise BadValueError(f"requests name clip {int(requests['clip'].max())}, but there are "
                                f"features for {len(features)} clips")  # fmt: skip
        self.features, self.requests = features, requests
        self.batch_size, self.seed, self.shuffle, self.epoch = batch_size, seed, shuffle, 0

    def __len__(self) -> int:
        return -(-len(self.requests["clip"]) // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[dict]:
        n = len(self.requests["clip"])
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = {k: v[rows] for k, v in self.requests.items() if k != "clip"}
            yield {"features": self.features[self.requests["clip"][rows]].float(), **batch}


class NextWordOnAnswers(Objective):
    """The language-model loss: cross-entropy of each next word, counted on the answer and its
    <eos> only (the question is given, not predicted)."""

    def unpack(self, batch: dict) -> tuple[tuple, torch.Tensor]:
        return (batch["features"], batch["text"]), batch["target"]

    def loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


class AnswerClasses(Objective):
    """Chapter 7's formulation: the prompt in, one of the training answers out (cross-entropy
    over answer classes)."""

    accuracy = True

    def unpack(self, batch: dict) -> tuple[tuple, torch.Tensor]:
        return (batch["features"], batch["text"], batch["prompt_length"]), batch["answer_class"]

    def loss(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(output.float(), targets)

    def correct(self, output: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (output.argmax(1) == targets).sum()


def answer_classes(requests: dict, answers: Sequence[tuple[int, ...]] | None = None
                   ) -> tuple[torch.Tensor, list[tuple[int, ...]]]:  # fmt: skip
    """Each request's answer as a class index into ``answers`` (default: the distinct answers of
    ``requests``, in order of appearance; an answer not in the list gets -1) and the list."""
    rows = [tuple(a[a != 0].tolist()) for a in requests["answer"]]
    answers = list(dict.fromkeys(rows)) if answers is None else list(answers)
    index = {a: i for i, a in enumerate(answers)}
    return torch.tensor([index.get(r, -1) for r in rows]), answers


def _by_prompt_length(requests: dict, batch_size: int) -> Iterator[torch.Tensor]:
    for length in requests["prompt_length"].unique().tolist():
        rows = (requests["prompt_length"] == length).nonzero().flatten()
        yield from rows.split(batch_size)


def generate_answers(model: nn.Module, features: torch.Tensor, requests: dict,
                     tokenizer: WordTokenizer, batch_size: int = 500) -> list[tuple[str, ...]]:  # fmt: skip
    """Greedy answers of the video-language ``model`` to every request, as words. Requests
    are decoded in groups of one prompt length, so no prompt is padded."""
    out: list[tuple[str, ...]] = [()] * len(requests["clip"])
    max_new = requests["answer"].shape[1]
    with eval_mode(model):
        for rows in _by_prompt_length(requests, batch_size):
            length = int(requests["prompt_length"][rows[0]])
            ids = model.generate(features[requests["clip"][rows]].float(),
                                 requests["text"][rows, :length], max_new, tokenizer.eos_id)  # fmt: skip
            for row, answer in zip(rows.tolist(), ids, strict=True):
                out[row] = tuple(tokenizer.decode(answer))
    return out


def exact_match(predicted: Sequence[tuple[str, ...]], requests: dict, tokenizer: WordTokenizer,
                kinds: Sequence[str]) -> dict:  # fmt: skip
    """Share of answers equal to the truth word for word, overall (``all``) and per kind."""
    if len(predicted) != len(requests["clip"]):
        raise BadValueError(f"{len(predicted)} answers for {len(requests['clip'])} requests")
    truth = [tuple(tokenizer.decode(a)) for a in requests["answer"]]
    right = torch.tensor([p == t for p, t in zip(predicted, truth, strict=True)])
    scores = {k: right[requests["kind"] == i].float().mean().item() for i, k in enumerate(kinds)}
    return {"all": right.float().mean().item(), **scores}


def classify_answers(model: nn.Module, features: torch.Tensor, requests: dict,
                     answers: Sequence[tuple[int, ...]], tokenizer: WordTokenizer,
                     batch_size: int = 500) -> list[tuple[str, ...]]:  # fmt: skip
    """The answer classifier's answer to every request, as words."""
    loader = RequestLoader(features, {**requests, "answer_class": torch.zeros(len(requests["clip"]),
                           dtype=torch.long)}, batch_size, shuffle=False)  # fmt: skip
    picked: list[int] = []
    with eval_mode(model), torch.no_grad():
        for batch in loader:
            picked += (
                model(batch["features"], batch["text"], batch["prompt_length"]).argmax(1).tolist()
            )
    return [tuple(tokenizer.decode(answers[i])) for i in picked]


def fit_on_requests(
    model: nn.Module,
    objective: Objective,
    features: torch.Tensor,
    requests: dict,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 0.01,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> Trainer:
    """Train ``model`` (the language model, or the answer classifier) on ``requests`` about
    clips with cached ``features`` with the book's Trainer (AdamW, warm-up and cosine decay);
    returns the Trainer (``history``, ``curve``)."""
    loader = RequestLoader(features, requests, batch_size, seed=seed)
    trainer = Trainer(model, objective=objective, device=device, epochs=epochs, lr=lr,
                      weight_decay=weight_decay, progress=False, seed=seed)  # fmt: skip
    trainer.fit(loader)
    return trainer
