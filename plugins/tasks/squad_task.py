"""task.format=squad: question + context window -> start/end logits (SQuAD v1.1 extractive spans).

Windows with stride over long contexts; the best span (at most `max_answer_length` tokens) over all windows of
a question, mapped back to characters. Metrics: loss, exact_match, f1 (SQuAD v1.1 normalisation, as
fractions). Only the dev file exists here, so train/val split it by article: the first `squad_train_fraction`
of the articles train, the rest validate. Reading, windows and scoring are in plugins.tasks.squad.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import Batch, DataError, PlaitError, Tokenizer
from plugins.tasks import squad
from plugins.tasks.batching import pad
from plugins.tasks.configs import QAFormat, QuestionAnsweringConfig
from plugins.tasks.qa_base import QuestionAnsweringTask, Texts
from plugins.tasks.samples import fixed_choice
from plugins.tasks.text_data import check_path


@dataclass
class SquadData:
    """Windows of one SQuAD split and its examples (indices into the task's global example list)."""

    windows: list[squad.Window]
    examples: list[int]


class SquadTask(QuestionAnsweringTask[SquadData]):
    """SQuAD span extraction: `[cls] question [sep] context window [sep]` -> start and end logits per token."""

    format = QAFormat.squad

    def __init__(self, cfg: QuestionAnsweringConfig) -> None:
        super().__init__(cfg)
        self._examples: list[squad.SquadExample] = []  # every featurised SQuAD example, all splits
        self._offsets: list[squad.Offsets] = []  # context token offsets per example in _examples

    def metric_names(self) -> list[str]:
        """What `reduce` returns: loss, exact match and token F1."""
        return ["loss", "exact_match", "f1"]

    def splits(self) -> list[str]:
        """train and val (split by article), test when squad_test_path is set, and the extra validation sets."""
        return ["train", "val", *(["test"] if self.cfg.squad_test_path else []), *self._extra_splits()]

    def _set_tokenizer(self, tokenizer: Tokenizer) -> None:
        super()._set_tokenizer(tokenizer)
        if not callable(getattr(tokenizer, "encode_with_offsets", None)):
            raise PlaitError(
                f"task.format=squad needs character offsets from the tokenizer; {type(tokenizer).__name__} "
                "has no encode_with_offsets(): use a built-in tokenizer (word, bpe, wordpiece, ...)"
            )
        self.cls_id, self.sep_id = tokenizer.special_id("cls"), tokenizer.special_id("sep")

    # -- reading and featurising ---------------------------------------------------------------------

    def _read_training(self) -> Texts:
        train, val = squad.split_articles(self._articles(self.cfg.squad_path), self.cfg.squad_train_fraction)
        self._raw = {"train": train, "val": val}
        self.answers = []
        return lambda: sorted({ex.context for ex in train}) + [ex.question for ex in train]

    def _source_files(self) -> dict[str, list[Path]]:
        paths = {"train": self.cfg.squad_path, "test": self.cfg.squad_test_path}
        return {split: [Path(path).expanduser()] for split, path in paths.items() if path}

    def _read_test(self) -> list[squad.SquadExample] | None:
        if not self.cfg.squad_test_path:
            return None
        return [ex for art in self._articles(self.cfg.squad_test_path) for ex in art]

    def _read_extra(self, path: str, key: str) -> list[squad.SquadExample]:
        check_path(path, key)
        return [ex for art in self._articles(path) for ex in art]

    def _articles(self, path: str | None) -> list[list[squad.SquadExample]]:
        if path is None:
            raise DataError("task.format=squad needs task.squad_path=<SQuAD v1.1 JSON>, e.g. ${data_root}/squad/...")
        return squad.read_squad(path)

    def _spec_parts(self) -> tuple[int | None, int, dict[str, Any]]:
        return None, self.cfg.max_length, {"cls_id": self.cls_id, "sep_id": self.sep_id}

    def _featurise(self, raw: list[squad.SquadExample]) -> SquadData:
        """Windows of every example, labelled with its first gold answer (so val loss is comparable)."""
        contexts = sorted({ex.context for ex in raw})
        encoded = dict(zip(contexts, self.tokenizer.encode_with_offsets(contexts), strict=True))
        questions = self.tokenizer.encode_batch([ex.question for ex in raw])
        windows, indices = [], []
        for ex, q_ids in zip(raw, questions, strict=True):
            ids, offsets = encoded[ex.context]
            start = ex.answer_starts[0]
            answer = squad.answer_tokens(offsets, start, start + len(ex.answers[0]))
            index = len(self._examples)
            self._examples.append(ex)
            self._offsets.append(offsets)
            indices.append(index)
            windows.extend(self._windows(index, q_ids, ids, answer))
        return SquadData(windows, indices)

    def _sample_items(self, split: str, n: int) -> list[dict[str, str]]:
        """Fixed questions with their paragraph and first gold answer."""
        examples = self._split(split).examples
        chosen = [self._examples[examples[i]] for i in fixed_choice(len(examples), n, self.cfg.seed)]
        return [{"context": ex.context, "question": ex.question, "reference": ex.answers[0]} for ex in chosen]

    def _windows(
        self, index: int, q_ids: list[int], ids: list[int], answer: tuple[int, int] | None
    ) -> list[squad.Window]:
        c = self.cfg
        return squad.make_windows(
            index,
            q_ids,
            ids,
            answer,
            cls_id=self.cls_id,
            sep_id=self.sep_id,
            max_length=c.max_length,
            stride=c.doc_stride,
            max_question_length=c.max_question_length,
        )

    # -- batches -------------------------------------------------------------------------------------

    def _lengths(self, data: SquadData) -> np.ndarray:
        return np.array([len(w.input_ids) for w in data.windows])

    def _batch(self, data: SquadData, idx: np.ndarray) -> Batch:
        return self._span_batch([data.windows[i] for i in idx])

    def _span_batch(self, windows: list[squad.Window]) -> Batch:
        ids, mask = pad([w.input_ids for w in windows], self.pad_id)
        context = torch.zeros_like(mask)
        for b, w in enumerate(windows):
            context[b, w.context_offset : w.context_offset + w.token_end - w.token_start] = True
        tensors = {
            "input_ids": ids,
            "attention_mask": mask,
            "context_mask": context,
            "start": torch.tensor([w.start for w in windows]),
            "end": torch.tensor([w.end for w in windows]),
            "example": torch.tensor([w.example for w in windows]),
            "token_start": torch.tensor([w.token_start for w in windows]),
            "context_offset": torch.tensor([w.context_offset for w in windows]),
        }
        return Batch(tensors, n_samples=len(windows), n_tokens=int(mask.sum()))

    # -- loss and evaluation -------------------------------------------------------------------------

    def _span_logits(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        start, end = model(batch["input_ids"], batch["attention_mask"])
        keep = batch["attention_mask"]
        return start.float().masked_fill(~keep, -1e4), end.float().masked_fill(~keep, -1e4)

    def _losses(self, model: nn.Module, batch: Batch, reduction: str) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The mean of the start and end cross-entropies; the masked start and end logits."""
        start, end = self._span_logits(model, batch)
        loss = (F.cross_entropy(start, batch["start"], reduction=reduction)) + F.cross_entropy(
            end, batch["end"], reduction=reduction
        )
        return loss / 2, (start, end)

    def _predictions(self, batch: Batch, out: tuple[Tensor, Tensor]) -> dict[str, Any]:
        """The best span's score and text of each window, with its example."""
        start, end = out
        score, first, last = squad.best_spans(start, end, batch["context_mask"], self.cfg.max_answer_length)
        shift = (batch["token_start"] - batch["context_offset"]).cpu()
        firsts, lasts = (first.cpu() + shift).tolist(), (last.cpu() + shift).tolist()  # context token indices
        texts = []
        for ex, i, j in zip(batch["example"].cpu().tolist(), firsts, lasts, strict=True):
            offsets = self._offsets[ex]
            texts.append(self._examples[ex].context[offsets[i][0] : offsets[j][1]])
        return {
            "n": len(texts),
            "example": batch["example"].cpu().tolist(),
            "score": score.cpu().tolist(),
            "text": texts,
        }

    def _scores(self, partials: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
        """exact_match and f1 of each question's best-scoring window; details: counts and sample predictions."""
        best: dict[int, tuple[float, str]] = {}
        for p in partials:
            for ex, score, text in zip(p["example"], p["score"], p["text"], strict=True):
                if ex not in best or score > best[ex][0]:
                    best[ex] = (score, text)
        scores = [squad.squad_scores(text, self._examples[ex].answers) for ex, (_, text) in best.items()]
        em = float(np.mean([s[0] for s in scores])) if scores else 0.0
        f1 = float(np.mean([s[1] for s in scores])) if scores else 0.0
        samples = [
            {"question": self._examples[ex].question, "prediction": text, "gold": self._examples[ex].answers}
            for ex, (_, text) in list(best.items())[:5]
        ]
        details = {
            "questions": len(best),
            "samples": samples,
            "summary": f"{len(best)} questions  EM {100 * em:.2f}  F1 {100 * f1:.2f}",
        }
        return {"exact_match": em, "f1": f1}, details

    # -- inference -----------------------------------------------------------------------------------

    def _answer(self, model: nn.Module, items: list[dict[str, Any]], device: torch.device) -> list[dict[str, Any]]:
        """{"answer", "start", "score"} per item: the best span over the windows and its character start."""
        results = []
        for it in items:
            context = str(it["context"])
            ids, offsets = self.tokenizer.encode_with_offsets([context])[0]
            windows = self._windows(0, self.tokenizer.encode(str(it["question"])), ids, None)
            batch = self._span_batch(windows).to(device)
            start, end = self._span_logits(model, batch)
            score, first, last = squad.best_spans(start, end, batch["context_mask"], self.cfg.max_answer_length)
            w = int(score.argmax())
            i = int(first[w]) - windows[w].context_offset + windows[w].token_start
            j = int(last[w]) - windows[w].context_offset + windows[w].token_start
            span = (offsets[i][0], offsets[j][1])
            results.append({"answer": context[span[0] : span[1]], "start": span[0], "score": float(score[w])})
        return results
