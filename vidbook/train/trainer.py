"""A small, reproducible training loop for video classifiers.

The :class:`Trainer` trains a model that maps clips ``(B, C, T, H, W)`` to logits ``(B, K)`` with
AdamW, a learning-rate schedule by name, bf16 autocast on CUDA (or fp16 with a gradient scaler),
gradient clipping and accumulation, a non-finite-loss guard, atomic per-epoch checkpoints that
resume bit-exactly on the CPU, and DistributedDataParallel when started by ``torchrun``.

This module is longer than 400 lines because the Trainer is one class whose steps (the step,
the guard, the epoch, checkpoints and resuming) share its state; its settings live in
``vidbook.train.config`` and its display in ``vidbook.train.progress``.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vidbook.distributed import all_reduce_sum, barrier, is_main_process, rank_and_world
from vidbook.errors import BadValueError, VidbookError
from vidbook.runtime import eval_mode, resolve_device, seed_everything
from vidbook.train.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from vidbook.train.config import RESULT_FIELDS, TrainConfig, make_config
from vidbook.train.objective import Classification, Objective, check_logits, move
from vidbook.train.objective import batch_rows as _rows
from vidbook.train.objective import forward as _forward
from vidbook.train.progress import epoch_line, progress_bar, progress_on, write_line
from vidbook.train.schedule import make_lambda, warmup_steps

LAST, BEST = "last.pt", "best.pt"


class NonFiniteLossError(VidbookError, RuntimeError):
    """The training loss became nan or inf; the message says where and what to try."""

    def __init__(
        self, message: str, step: int, epoch: int, batch: int, loss: float, checkpoint: str | None
    ) -> None:
        super().__init__(message)
        self.step, self.epoch, self.batch, self.loss = step, epoch, batch, loss
        self.checkpoint = checkpoint


def _len_or_none(data: Iterable) -> int | None:
    """``len(data)`` (batches per epoch), or None if the object has no length."""
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None


def _described(identity: dict | None) -> str:
    if not identity:
        return "no task recorded"
    return ", ".join(f"{k} {v!r}" for k, v in identity.items())


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: weight decay on matrices/kernels, none on biases and norms (ndim <= 1)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise BadValueError("the model has no trainable parameters (requires_grad=True)")
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


class Trainer:
    """Train and evaluate ``model`` (clips ``(B, C, T, H, W)`` -> logits ``(B, K)``).

    ``Trainer(model, config, device, optimizer, **overrides)``: ``overrides`` replace fields of
    ``config`` (e.g. ``Trainer(model, epochs=5, lr=3e-4)``). ``optimizer`` (default AdamW) is a
    function that gets the parameter groups — each with ``params``, ``weight_decay`` and
    ``lr = config.lr`` — and returns the optimizer, e.g.
    ``optimizer=lambda groups: torch.optim.SGD(groups, momentum=0.9)``. ``objective`` (default
    :class:`~vidbook.train.objective.Classification`) says how a batch splits into inputs and
    targets and what the loss is; the book's other tasks train through it. ``device`` defaults to
    ``vidbook.runtime.device()``; the model is moved there. A device torch cannot use here (``cuda``
    without a GPU) is a BadValueError naming the available ones.

    Attributes: ``model``, ``config``, ``device``, ``optimizer`` (AdamW, no weight decay on
    parameters with ndim <= 1), ``scheduler`` (LambdaLR, built by the first ``fit``), ``scaler``
    (the fp16 gradient scaler, disabled otherwise), ``rank`` and ``world_size`` (under torchrun
    the model trains as DistributedDataParallel; metrics are summed over the processes and only
    rank 0 shows progress and writes checkpoints),
    ``history`` (list of per-epoch dicts), ``epoch`` (epochs done), ``global_step`` (optimizer
    steps done), ``best_val_acc`` and ``last_checkpoint`` (path of the latest ``last.pt``).
    ``fit`` raises NonFiniteLossError on a nan/inf loss, CheckpointError on an unreadable
    ``last.pt`` and ValueError on a resume whose settings differ from the checkpoint's.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None = None,
        device: torch.device | str | None = None,
        optimizer: Callable[[list[dict]], torch.optim.Optimizer] | None = None,
        objective: Objective | None = None,
        identity: dict | None = None,
        **overrides: Any,
    ) -> None:
        self.config = make_config(config, overrides)
        # What the run trains (task, model, clip shape): stored in checkpoints, and a resume
        # from a checkpoint of another identity is refused (weights of the same shapes would
        # load silently into a model built for other clips).
        self.identity = None if identity is None else dict(identity)
        if objective is not None and not isinstance(objective, Objective):
            raise BadValueError(
                f"objective must be a vidbook.train.Objective, got {type(objective).__name__}"
            )
        if objective is not None and self.config.label_smoothing:
            raise BadValueError(
                "label_smoothing belongs to the default classification objective; give it to "
                "your objective instead (TrainConfig.label_smoothing must be 0 with objective=)"
            )
        self.objective = objective or Classification(self.config.label_smoothing)
        self.device = resolve_device(device)  # BadValueError if torch cannot use it here
        self.model = model.to(self.device)
        cuda = self.device.type == "cuda"
        if cuda:
            torch.backends.cudnn.benchmark = True
        self.rank, self.world_size = rank_and_world()
        # The module that training runs through: the model itself, or its DDP wrapper, whose
        # backward all-reduces (averages) the gradients of the processes.
        self.train_module: nn.Module = self.model
        if self.world_size > 1:
            ids = [self.device.index] if cuda else None
            self.train_module = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if self.config.compile:
            backend = self.config.compile if isinstance(self.config.compile, str) else "inductor"
            self.train_module = torch.compile(self.train_module, backend=backend)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.config.amp == "fp16")
        groups = _param_groups(self.model, self.config.weight_decay)
        if optimizer is None:
            self.optimizer = torch.optim.AdamW(groups, lr=self.config.lr, fused=cuda)
        else:
            for group in groups:
                group["lr"] = self.config.lr
            self.optimizer = optimizer(groups)
            if not isinstance(self.optimizer, torch.optim.Optimizer):
                raise BadValueError(
                    "optimizer must be a function from parameter groups to a "
                    f"torch.optim.Optimizer, it returned {type(self.optimizer).__name__}"
                )
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self.steps_per_epoch: int | None = None
        self.history: list[dict] = []
        self.curve: list[dict] = []  # the training loss about 20 times an epoch (this process)
        self.epoch = 0
        self.global_step = 0
        self.best_val_acc: float | None = None
        self.last_checkpoint: str | None = None
        self._acc_dtype = torch.float32 if self.device.type == "mps" else torch.float64

    # ----- public API -------------------------------------------------------------------------

    def fit(self, train_data: Iterable, val_data: Iterable | None = None) -> list[dict]:
        """Train up to ``config.epochs`` epochs; return the history (one dict per epoch).

        Each row: ``epoch`` (1-based), ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``
        (None without ``val_data``), ``seconds`` (training time of the epoch), ``clips_per_s``,
        ``lr`` (at the epoch's end) and ``stopped`` (``"time_limit"`` on the row after which
        ``time_limit_s`` stopped training, else None). ``train_data.set_epoch(e)`` is called with
        the 0-based epoch index before each epoch if it exists. With ``resume=True`` and a
        ``last.pt`` in ``checkpoint_dir`` training continues after the stored epoch.
        """
        cfg = self.config
        self._setup_schedule(train_data)
        if not self._maybe_resume() and self.epoch == 0:
            seed_everything(cfg.seed)
        self._reset_guard()
        started = time.perf_counter()
        while self.epoch < cfg.epochs:
            row = self._run_epoch(train_data, val_data)
            elapsed = time.perf_counter() - started
            if (
                cfg.time_limit_s is not None
                and elapsed >= cfg.time_limit_s
                and (self.epoch < cfg.epochs)
            ):
                row["stopped"] = "time_limit"
            self.history.append(row)
            self._save_epoch_checkpoints(row)
            self._report(row, elapsed)
            if row["stopped"]:
                break
        return self.history

    def evaluate(self, data: Iterable) -> dict:
        """Mean cross-entropy ``loss`` (no label smoothing), ``acc``, ``n`` and ``confusion``.

        ``confusion`` is a CPU long tensor ``(K, K)``: rows are true classes, columns predictions,
        ``K`` the model's number of outputs. Runs under ``torch.no_grad()`` in eval mode and
        restores the previous train/eval modes.
        """
        if not isinstance(self.objective, Classification):
            return self._evaluate_loss(data)
        loss_sum = torch.zeros((), dtype=self._acc_dtype, device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        confusion, k, n = None, 0, 0
        with eval_mode(self.model):
            for batch in data:
                logits, label = self._eval_batch(batch)
                pred = logits.argmax(dim=1)
                if confusion is None:
                    k = logits.shape[1]
                    confusion = torch.zeros(k * k, dtype=torch.long, device=self.device)
                loss_sum += F.cross_entropy(logits, label, reduction="sum").to(self._acc_dtype)
                correct += (pred == label).sum()
                confusion += torch.bincount(label * k + pred, minlength=k * k)
                n += label.shape[0]
        if confusion is None or n == 0:
            raise BadValueError("evaluate: the data yielded no batches")
        if self.world_size > 1:  # every process evaluated its shard: add them up
            all_reduce_sum(confusion)
            loss_sum = all_reduce_sum(loss_sum.double()).to(self._acc_dtype)
            correct, n = confusion.view(k, k).trace(), int(confusion.sum().item())
        return {
            "loss": float(loss_sum.item()) / n,
            "acc": int(correct.item()) / n,
            "n": n,
            "confusion": confusion.reshape(k, k).cpu(),
        }

    def _evaluate_loss(self, data: Iterable) -> dict:
        """``evaluate`` for an objective other than classification: the mean ``loss`` (weighted
        by batch size) and ``n``; ``acc`` is None. A task's field metrics live in vidbook.eval."""
        loss_sum = torch.zeros((), dtype=self._acc_dtype, device=self.device)
        n = 0
        with eval_mode(self.model):
            for batch in data:
                inputs, targets = self._to_device(batch)
                with self._autocast():
                    output = _forward(self.model, inputs)
                loss_sum += self.objective.loss(output, targets).to(self._acc_dtype) * _rows(inputs)
                n += _rows(inputs)
        if n == 0:
            raise BadValueError("evaluate: the data yielded no batches")
        if self.world_size > 1:
            totals = all_reduce_sum(torch.stack([loss_sum.double(), loss_sum.new_tensor(n)]))
            loss_sum, n = totals[0], int(totals[1].item())
        return {"loss": float(loss_sum.item()) / n, "acc": None, "n": n}

    def predict(self, data: Iterable) -> tuple[torch.Tensor, torch.Tensor]:
        """All logits ``(N, K)`` (float32) and labels ``(N,)`` (long) of ``data``, on the CPU."""
        if not isinstance(self.objective, Classification):
            raise BadValueError(
                "predict returns class logits: it needs the classification objective"
            )
        logits_all, labels_all = [], []
        with eval_mode(self.model):
            for batch in data:
                logits, label = self._eval_batch(batch)
                logits_all.append(logits)
                labels_all.append(label)
        if not logits_all:
            raise BadValueError("predict: the data yielded no batches")
        return torch.cat(logits_all).cpu(), torch.cat(labels_all).cpu()

    # ----- batches and steps ------------------------------------------------------------------

    def _to_device(self, batch: Any) -> tuple[Any, Any]:
        inputs, targets = self.objective.unpack(batch)
        return move(inputs, self.device), self.objective.to_device(targets, self.device)

    def _autocast(self) -> contextlib.AbstractContextManager:
        """Autocast per ``config.amp`` (``"auto"``: bf16 on CUDA only), else a no-op."""
        amp = self.config.amp
        if amp == "fp16":
            return torch.autocast(device_type=self.device.type, dtype=torch.float16)
        if amp == "bf16" or (amp == "auto" and self.device.type == "cuda"):
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _logits(
        self, clip: torch.Tensor, label: torch.Tensor, module: nn.Module | None = None
    ) -> torch.Tensor:
        """Model output as float32 logits ``(B, K)``, checked against the labels ``(B,)``."""
        with self._autocast():
            logits = (module or self.model)(clip)
        return check_logits(logits, label)

    def _eval_batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits (B, K) float32, labels (B,))`` of one batch, on the device."""
        clip, label = self._to_device(batch)
        return self._logits(clip, label), label

    def _train_step(
        self, clip: torch.Tensor, targets: Any, sums: dict, group: tuple[int, int]
    ) -> None:
        """Forward and backward of one batch, the ``group[0]``-th (from 0) of ``group[1]`` whose
        gradients make one optimizer step (taken after the last); loss and correct counts are
        added to ``sums`` on the device."""
        position, size = group
        with self._autocast():
            output = _forward(self.train_module, clip)
        loss = self.objective.loss(output, targets)
        loss_value = loss.detach()
        self._flag_nonfinite(loss_value)
        if self.config.check_every == 1:
            self._check_guard()
        if position == 0:
            self.optimizer.zero_grad(set_to_none=True)
        last = position == size - 1
        sync = contextlib.nullcontext()
        if not last and isinstance(self.train_module, nn.parallel.DistributedDataParallel):
            sync = self.train_module.no_sync()  # all-reduce only with the last batch's backward
        with sync:
            self.scaler.scale(loss / size).backward()
        if last:
            self._optimizer_step()
        sums["loss"] += loss_value.to(self._acc_dtype) * _rows(clip)
        if self.objective.accuracy:
            sums["correct"] += self.objective.correct(output, targets)
        if self.config.check_every > 1 and self.global_step % self.config.check_every == 0:
            self._check_guard()

    def _optimizer_step(self) -> None:
        """Clip (unscaled) gradients, step the optimizer (skipped by the fp16 scaler when a
        gradient overflowed), then the schedule."""
        if self.config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            # the trained parameters only: a frozen part's stale gradients must not count
            trained = [p for p in self.model.parameters() if p.requires_grad]
            nn.utils.clip_grad_norm_(trained, self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.global_step += 1

    # ----- non-finite guard -------------------------------------------------------------------

    def _reset_guard(self) -> None:
        """Device tensors: the first step with a non-finite loss (-1: none) and that loss."""
        self._bad_step = torch.full((), -1, dtype=torch.long, device=self.device)
        self._bad_loss = torch.zeros((), dtype=torch.float32, device=self.device)
        self._step_t = torch.full((), self.global_step, dtype=torch.long, device=self.device)
        self._epoch_first_step = self.global_step

    def _flag_nonfinite(self, loss: torch.Tensor) -> None:
        """Record the current step if ``loss`` is nan/inf and none was recorded (no sync)."""
        first = (self._bad_step < 0) & ~torch.isfinite(loss)
        self._bad_step = torch.where(first, self._step_t, self._bad_step)
        self._bad_loss = torch.where(first, loss.float(), self._bad_loss)
        self._step_t += 1

    def _check_guard(self) -> None:
        """Read the flag on the host; raise NonFiniteLossError if a loss was nan/inf."""
        step = int(self._bad_step.item())
        if step < 0:
            return
        loss = float(self._bad_loss.item())
        epoch, batch = self.epoch + 1, step - self._epoch_first_step
        if self.last_checkpoint:
            where = (
                f"The last good checkpoint is {self.last_checkpoint}; fix the cause and rerun "
                "with resume=True to continue from it."
            )
        else:
            where = "No checkpoint was written yet (set checkpoint_dir to keep one per epoch)."
        raise NonFiniteLossError(
            f"non-finite training loss {loss} at global step {step} (epoch {epoch}, batch {batch}; "
            f"steps and batches count from 0, epochs from 1). {where} Try a lower lr (now "
            f"{self.config.lr:g}) or grad_clip, amp='off' to rule out bf16 overflow, and check "
            "the data for nan/inf values and the labels for out-of-range classes.",
            step=step,
            epoch=epoch,
            batch=batch,
            loss=loss,
            checkpoint=self.last_checkpoint,
        )

    # ----- epochs -----------------------------------------------------------------------------

    def _setup_schedule(self, train_data: Iterable) -> None:
        """Create the LambdaLR scheduler for ``epochs * len(train_data)`` steps (once)."""
        cfg = self.config
        per_epoch = _len_or_none(train_data)
        if per_epoch is None and (cfg.schedule != "constant" or cfg.warmup_frac > 0):
            raise BadValueError(
                f"train_data ({type(train_data).__name__}) has no len(), which "
                f"schedule={cfg.schedule!r} with warmup_frac={cfg.warmup_frac:g} needs for the "
                "total number of steps; give it a __len__ returning the batches per epoch, or "
                "use schedule='constant' with warmup_frac=0"
            )
        if per_epoch is not None and per_epoch < 1:
            raise BadValueError(f"train_data has len() == {per_epoch}; it must yield batches")
        if self.scheduler is not None:
            if per_epoch != self.steps_per_epoch:
                raise BadValueError(
                    f"train_data now has {per_epoch} batches per epoch, the schedule was built for "
                    f"{self.steps_per_epoch}; make a new Trainer for different data"
                )
            return
        steps = -(-per_epoch // cfg.accumulate) if per_epoch is not None else None
        total = cfg.epochs * steps if steps is not None else 1
        self.steps_per_epoch = per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, make_lambda(cfg.schedule, total, warmup_steps(total, cfg.warmup_frac))
        )

    def _run_epoch(self, train_data: Iterable, val_data: Iterable | None) -> dict:
        """Train one epoch (then evaluate); return its history row and advance ``self.epoch``."""
        if hasattr(train_data, "set_epoch"):
            train_data.set_epoch(self.epoch)
        self.model.train()
        self._epoch_first_step = self.global_step
        sums = {
            "loss": torch.zeros((), dtype=self._acc_dtype, device=self.device),
            "correct": torch.zeros((), dtype=torch.long, device=self.device),
        }
        show = progress_on(self.config.progress)
        batches = (
            progress_bar(train_data, self.steps_per_epoch, self.epoch + 1, self.config.epochs)
            if show
            else train_data
        )
        n, shown_at, start = 0, time.perf_counter(), time.perf_counter()
        accumulate, per_epoch = self.config.accumulate, self.steps_per_epoch
        every = max(1, (per_epoch or 100) // 20)
        marks = [(self.global_step, sums["loss"].clone(), 0)]  # (step, loss sum, rows) so far
        for i, batch in enumerate(batches):
            clip, targets = self._to_device(batch)
            first = i - i % accumulate  # the first batch of this optimizer step's group
            size = min(accumulate, per_epoch - first) if per_epoch is not None else accumulate
            self._train_step(clip, targets, sums, (i - first, size))
            n += _rows(clip)
            if (i + 1) % every == 0:
                marks.append((self.global_step, sums["loss"].clone(), n))
            if show and time.perf_counter() - shown_at > 0.5:
                shown = {"loss": sums["loss"].item() / n}
                if self.objective.accuracy:
                    shown["acc"] = sums["correct"].item() / n
                batches.set_postfix(shown)
                shown_at = time.perf_counter()
        if n == 0:
            raise BadValueError(f"train_data yielded no batches in epoch {self.epoch + 1}")
        if per_epoch is None and n and (i + 1) % accumulate:
            self._optimizer_step()  # an unfinished group at the end of an epoch of unknown length
        self._check_guard()
        self._extend_curve(marks)
        totals = torch.stack([sums["loss"], sums["correct"].to(sums["loss"].dtype)])
        totals = torch.cat([totals, torch.tensor([n], dtype=totals.dtype, device=totals.device)])
        loss_sum, correct, n = all_reduce_sum(totals).tolist()  # over all processes
        train_loss = loss_sum / n
        train_acc = correct / n if self.objective.accuracy else None
        seconds = time.perf_counter() - start
        if show:
            batches.set_postfix(
                {"loss": train_loss} | ({"acc": train_acc} if train_acc is not None else {})
            )
            batches.close()
        self.epoch += 1
        val = self.evaluate(val_data) if val_data is not None else None
        return {
            "epoch": self.epoch,
            "train_loss": train_loss,
            "train_acc": train_acc,
            "val_loss": val["loss"] if val else None,
            "val_acc": val["acc"] if val else None,
            "seconds": seconds,
            "clips_per_s": n / seconds if seconds > 0 else float("inf"),
            "lr": float(self.optimizer.param_groups[0]["lr"]),
            "stopped": None,
        }

    def _extend_curve(self, marks: list[tuple[int, torch.Tensor, int]]) -> None:
        """Add the mean training loss between consecutive marks to ``self.curve`` (one
        synchronisation per epoch): rows ``{"step": optimizer steps so far, "train_loss"}``."""
        totals = torch.stack([loss for _, loss, _ in marks]).tolist()
        points = [(step, total, rows) for (step, _, rows), total in zip(marks, totals, strict=True)]
        for (_, s0, n0), (step, s1, n1) in itertools.pairwise(points):
            if n1 > n0:
                self.curve.append({"step": step, "train_loss": (s1 - s0) / (n1 - n0)})

    def _report(self, row: dict, elapsed: float) -> None:
        """One summary line per epoch, only when progress display is on."""
        if progress_on(self.config.progress):
            write_line(epoch_line(row, self.config.epochs, self.config.time_limit_s, elapsed))

    # ----- checkpoints ------------------------------------------------------------------------

    def _checkpoint_path(self, name: str) -> Path | None:
        if self.config.checkpoint_dir is None:
            return None
        return Path(self.config.checkpoint_dir) / name

    def _state(self) -> dict:
        """Everything a checkpoint stores, as plain values and tensors."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": int(self.epoch),
            "global_step": int(self.global_step),
            "steps_per_epoch": self.steps_per_epoch,
            "history": [dict(row) for row in self.history],
            "best_val_acc": self.best_val_acc,
            "config": self.config.to_dict(),
            "identity": self.identity,
            "rng": rng_state(),
        }

    def _save_epoch_checkpoints(self, row: dict) -> None:
        """Write ``best.pt`` if val_acc improved, then ``last.pt`` (both atomically)."""
        improved = row["val_acc"] is not None and (
            self.best_val_acc is None or row["val_acc"] > self.best_val_acc
        )
        if improved:
            self.best_val_acc = float(row["val_acc"])
        last = self._checkpoint_path(LAST)
        if last is None:
            return
        if is_main_process():  # the processes hold the same weights: one writes them
            state = self._state()
            if improved:
                save_checkpoint(last.with_name(BEST), **state)
            save_checkpoint(last, **state)
        barrier()
        self.last_checkpoint = str(last)

    def _maybe_resume(self) -> bool:
        """Restore from ``checkpoint_dir/last.pt`` if ``resume`` is set and it exists."""
        path = self._checkpoint_path(LAST)
        if not self.config.resume or path is None or not path.exists():
            return False
        state = load_checkpoint(path, map_location="cpu")
        self._check_compatible(state, path)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(f"checkpoint {path} does not fit this model: {err}") from err
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.global_step = int(state["epoch"]), int(state["global_step"])
        self.history = [dict(row) for row in state["history"]]
        self.best_val_acc = state["best_val_acc"]
        set_rng_state(state["rng"])
        self.last_checkpoint = str(path)
        return True

    def _check_compatible(self, state: dict, path: Path) -> None:
        """ValueError naming the fields where the stored config differs in a result-changing way."""
        missing = [
            k for k in ("model", "optimizer", "scheduler", "config", "rng") if k not in state
        ]
        if missing:
            raise CheckpointError(f"checkpoint {path} lacks {missing}; it was not written by fit()")
        stored_identity = state.get("identity")
        if self.identity is not None and stored_identity != self.identity:
            raise CheckpointError(
                f"checkpoint {path} was written by another run ({_described(stored_identity)}); "
                f"this run is {_described(self.identity)}. Use another checkpoint_dir, or "
                "resume=False to start a new run."
            )
        stored, current = state["config"], self.config.to_dict()
        diffs = [
            f"{k}: checkpoint {stored.get(k)!r} != now {current[k]!r}"
            for k in RESULT_FIELDS
            if stored.get(k) != current[k]
        ]
        if state.get("steps_per_epoch") != self.steps_per_epoch:
            diffs.append(
                f"batches per epoch: checkpoint {state.get('steps_per_epoch')!r} "
                f"!= now {self.steps_per_epoch!r}"
            )
        if diffs:
            raise BadValueError(
                f"cannot resume from {path}: the settings differ from the checkpoint's in a way "
                f"that changes the result ({'; '.join(diffs)}). Use the stored settings, or "
                "another checkpoint_dir (or resume=False) to start a new run."
            )
