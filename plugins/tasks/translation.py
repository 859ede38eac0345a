"""Translation: source sentences -> target sentences with a seq2seq model; loss, perplexity, BLEU and chrF.

Data: line-aligned files (a path holding `{lang}`, e.g. `train.{lang}` -> train.de / train.en) or one
TSV/CSV/JSONL/HF file with a column per language. Tokenizers come from the factory by role: `source`
and `target`, or one `shared` tokenizer trained on both sides. BLEU and chrF are sacrebleu's, computed
on detokenized hypotheses against the raw reference lines; their signatures are logged and reported.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework import (
    SEQ2SEQ,
    Batch,
    Partials,
    PlaitError,
    Ragged,
    Task,
    TaskSpec,
    TokenizerFactory,
    budget_batches,
    detect_format,
    model_device,
    read_parallel_rows,
    read_rows,
)
from plugins.tasks.batching import bucketed_batches, pad_rows
from plugins.tasks.beam_search import beam_search
from plugins.tasks.configs import TranslationConfig
from plugins.tasks.demo_corpora import parallel
from plugins.tasks.limits import first, limited_count
from plugins.tasks.samples import fixed_choice
from plugins.tasks.split_tables import ColumnRows, SplitRows, TableReader, TableSource
from plugins.tasks.text_data import Row, SplitData, configured_splits, split_rows

log = logging.getLogger(__name__)
N_SAMPLES = 5  # example translations kept in `details()`


@dataclass
class Pairs:
    """Token ids of both sides of one split and its raw text (references for BLEU)."""

    src: Ragged
    tgt: Ragged
    sources: ColumnRows  # raw text by row, read from the memory-mapped table
    references: ColumnRows


class TranslationTask(Task):
    """Seq2seq; the model maps (src_ids, src_mask, tgt_in) to target logits and has encode/decode."""

    throughput_unit = "tokens"

    def __init__(self, cfg: TranslationConfig) -> None:
        self.cfg = cfg
        self.data: SplitData[Pairs] = SplitData(self._prepare)
        columns = f"{cfg.source_column or cfg.source_lang}:{cfg.target_column or cfg.target_lang}"
        self.tables = TableReader(cfg, f"translation:{columns}", ["source", "target"])
        self._details: dict[str, Any] = {}
        self._eval_split = "val"  # the split the current evaluation walks (reduce scores against its references)

    # -- data ------------------------------------------------------------------------------------

    def _source(self, path: str, split: str) -> TableSource:
        """The sentence pairs of one split's files (line-aligned `{lang}` files or two columns), streamed."""
        c = self.cfg
        langs = (c.source_lang, c.target_lang)
        if detect_format(Path(path), c.format) == "parallel":
            reader, rows = f"parallel:{langs}", lambda: read_parallel_rows(path, langs)
        else:
            columns = [c.source_column or c.source_lang, c.target_column or c.target_lang]
            reader, rows = self.tables.reader, lambda: read_rows(path, columns, c.format, split=split)
        return self.tables.file_source(path, split, reader, rows, c.format, langs)

    def _generated(self) -> dict[str, list[Row]]:
        c, n_eval = self.cfg, max(100, self.cfg.demo_size // 10)
        sizes = {"train": (c.demo_size, c.seed), "val": (n_eval, c.seed + 1), "test": (n_eval, c.seed + 2)}
        return {
            s: [(f"<generated {s}>:{i}", [src, tgt]) for i, (src, tgt) in enumerate(parallel(n, seed), 1)]
            for s, (n, seed) in sizes.items()
        }

    def _pairs(self, rows: SplitRows, split: str) -> Pairs:
        """Token ids of both sides (token stores in the cache) and the raw text of one split."""
        src = self.tables.encode(self.src_tok, rows, "source", split)
        tgt = self.tables.encode(self.tgt_tok, rows, "target", split)
        return Pairs(src, tgt, rows.column("source"), rows.column("target"))

    def _prepare(self, split: str) -> Pairs:
        """One split read on first use (a reopened run reads only the split it evaluates)."""
        return self._pairs(split_rows(self.tables.load(self._source, self._generated, only=split), split), split)

    def _tokenizers(self, tokenizer_factory: TokenizerFactory, train: SplitRows | None) -> None:
        """Source and target tokenizers by role (one `shared` tokenizer with shared_vocab), trained on `train`."""
        tokenizer = functools.partial(self.tables.tokenizer, tokenizer_factory)
        if self.cfg.shared_vocab:
            self.src_tok = self.tgt_tok = tokenizer("shared", train, "source", "target")
        else:
            self.src_tok = tokenizer("source", train, "source")
            self.tgt_tok = tokenizer("target", train, "target")
        self.pad_id = self.src_tok.pad_id
        self.bos_id, self.eos_id = self.tgt_tok.special_id("bos"), self.tgt_tok.special_id("eos")
        if self.tgt_tok.pad_id != self.pad_id:
            raise PlaitError("the source and target tokenizers must share the pad id; use tokenizers with <pad> = 0")

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Read the pairs, get source/target (or shared) tokenizers, tokenize through the cache."""
        raw = self.tables.load(self._source, self._generated)
        self._tokenizers(tokenizer_factory, raw["train"])
        for split, rows in raw.items():
            self.data[split] = self._pairs(rows, split)
        return TaskSpec(
            kind=SEQ2SEQ,
            vocab_size=self.src_tok.vocab_size,
            target_vocab_size=self.tgt_tok.vocab_size,
            pad_id=self.pad_id,
            max_length=self.cfg.max_length,
            vocab=self.src_tok.vocabulary(),
            extra={"bos_id": self.bos_id, "eos_id": self.eos_id},
        )

    def restore(self, spec: TaskSpec, tokenizer_factory: TokenizerFactory) -> None:
        """The run's saved tokenizers; no training data is read."""
        self._tokenizers(tokenizer_factory, None)

    def metric_names(self) -> list[str]:
        """What `reduce` returns: teacher-forced loss, its perplexity, BLEU and chrF."""
        return ["loss", "perplexity", "bleu", "chrf"]

    def splits(self) -> list[str]:
        """train and val, and test when a file (or the demo corpus) has it."""
        return configured_splits(self.cfg)

    def num_examples(self, split: str) -> int | None:
        """Sentence pairs in `split`."""
        return limited_count(len(self.data[split].src), self.cfg.limit(split))

    def data_files(self) -> dict[str, list[dict[str, Any]]]:
        """Split -> the files setup read (path, bytes, sha256)."""
        return self.tables.data_files()

    def prepared(self) -> list[dict[str, Any]]:
        """What setup read, trained and tokenized, or found ready, with its time (`plait prepare` prints it)."""
        return list(self.tables.steps)

    def _sources(self, rows: Ragged, idx: np.ndarray) -> tuple[Tensor, Tensor]:
        unk = self.src_tok.special_id("unk")
        return pad_rows(rows, idx, self.pad_id, max_length=self.cfg.max_length, empty_id=unk)

    def _batch(self, data: Pairs, idx: np.ndarray) -> Batch:
        """(src_ids, src_mask, tgt_in, tgt_out, index) of the examples `idx`."""
        limit = self.cfg.max_length
        src_ids, src_mask = self._sources(data.src, idx)
        tgt_in, _ = pad_rows(data.tgt, idx, self.pad_id, max_length=limit, prefix=self.bos_id)
        tgt_out, tgt_mask = pad_rows(data.tgt, idx, self.pad_id, max_length=limit, suffix=self.eos_id)
        tensors = {
            "src_ids": src_ids,
            "src_mask": src_mask,
            "tgt_in": tgt_in,
            "tgt_out": tgt_out,
            "index": torch.from_numpy(np.asarray(idx, dtype=np.int64)),
        }
        return Batch(tensors, n_samples=len(idx), n_tokens=int(src_mask.sum() + tgt_mask.sum()))

    def _lengths(self, split: str) -> np.ndarray:
        """Each pair's padded length: its longer side (the target with BOS or EOS), cut at task.max_length; the
        pairs batches draw from (the first task.train_limit / task.eval_limit)."""
        data, limit = self.data[split], self.cfg.max_length
        lengths: np.ndarray = np.maximum(
            np.minimum(data.src.lengths(), limit), np.minimum(data.tgt.lengths() + 1, limit)
        )
        return first(lengths, self.cfg.limit(split))

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Length-bucketed (src_ids, src_mask, tgt_in, tgt_out) batches; train shuffled by `epoch_seed`."""
        seed, pool = epoch_seed if split == "train" else None, self.cfg.bucket_pool_batches
        for idx in bucketed_batches(self._lengths(split), batch_size, seed=seed, pool_batches=pool)[start:]:
            yield self._batch(self.data[split], idx)

    def token_batches(self, split: str, *, max_tokens: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """`trainer.max_tokens`: batches of at most `max_tokens` tokens on each side, padding counted (fairseq's
        `--max-tokens`; framework.budget_batches); train shuffled by `epoch_seed`."""
        seed = epoch_seed if split == "train" else None
        for idx in budget_batches(self._lengths(split), max_tokens, seed=seed)[start:]:
            yield self._batch(self.data[split], idx)

    def eval_batches(self, split: str, *, batch_size: int) -> Iterator[Batch]:
        """Batches sorted by source length: they are decoded, and similar lengths decode fastest."""
        return self.eval_rank_batches(split, batch_size=batch_size, rank=0, world=1)

    def eval_rank_batches(self, split: str, *, batch_size: int, rank: int, world: int) -> Iterator[Batch]:
        """Evaluation batch i goes to process i % world; each process gathers only its own rows."""
        self._eval_split = split
        data = self.data[split]
        lengths = first(data.src.lengths(), self.cfg.limit(split))
        for idx in bucketed_batches(lengths, batch_size, seed=None, pool_batches=1)[rank::world]:
            yield self._batch(data, idx)

    # -- loss, metrics, decoding -----------------------------------------------------------------

    def loss(self, model: nn.Module, batch: Batch) -> Tensor:
        """Teacher-forced, label-smoothed cross-entropy over real target tokens."""
        logits = model(batch["src_ids"], batch["src_mask"], batch["tgt_in"]).float()
        return F.cross_entropy(
            logits.flatten(0, 1),
            batch["tgt_out"].flatten(),
            ignore_index=self.pad_id,
            label_smoothing=self.cfg.label_smoothing,
        )

    def _decode(
        self,
        model: nn.Module,
        src_ids: Tensor,
        src_mask: Tensor,
        *,
        beam_size: int,
        length_penalty: float | None,
        max_length: int | None,
    ) -> list[str]:
        """Detokenized translations of one padded batch of sources."""
        c = self.cfg
        limit = min(max_length or c.max_decode_length, c.max_length)
        if c.decode_length_ratio is not None:
            limit = min(limit, int(c.decode_length_ratio * int(src_mask.sum(1).max())) + 10)
        ids = beam_search(
            model,
            src_ids,
            src_mask,
            bos_id=self.bos_id,
            eos_id=self.eos_id,
            beam_size=beam_size,
            max_new_tokens=limit,
            length_penalty=c.length_penalty if length_penalty is None else length_penalty,
        )
        return self.tgt_tok.decode_batch(ids)

    def eval_step(self, model: nn.Module, batch: Batch) -> Partials:
        """Teacher-forced loss sum and token count; greedy/beam translations of the sentences to score."""
        logits = model(batch["src_ids"], batch["src_mask"], batch["tgt_in"]).float()
        tgt_out = batch["tgt_out"]
        loss_sum = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=self.pad_id, reduction="sum")
        partial: Partials = {
            "loss_sum": loss_sum,
            "count": int((tgt_out != self.pad_id).sum()),
            "index": [],
            "hyps": [],
        }
        limit = self.cfg.eval_decode_limit
        keep = batch["index"] < limit if limit is not None else torch.ones_like(batch["index"], dtype=torch.bool)
        if bool(keep.any()):
            mask = batch["src_mask"][keep]
            width = int(mask.sum(1).max())
            partial["hyps"] = self._decode(
                model, batch["src_ids"][keep][:, :width], mask[:, :width],
                beam_size=self.cfg.eval_beam_size, length_penalty=None, max_length=None,
            )  # fmt: skip
            partial["index"] = batch["index"][keep].tolist()
        return partial

    def reduce(self, partials: list[Partials]) -> dict[str, float]:
        """Perplexity of the teacher-forced loss, and BLEU and chrF (sacrebleu) of the decoded sentences."""
        loss = sum(float(p["loss_sum"]) for p in partials) / max(sum(int(p["count"]) for p in partials), 1)
        decoded = sorted((i, h) for p in partials for i, h in zip(p["index"], p["hyps"], strict=True))
        data = self.data[self._eval_split]
        hyps = [h for _, h in decoded]
        order = [i for i, _ in decoded]
        scores = corpus_scores(hyps, [data.references[i] for i in order])
        samples = [
            {"source": data.sources[i], "reference": data.references[i], "hypothesis": h}
            for i, h in decoded[:N_SAMPLES]
        ]
        self._details = {
            **{k: v for k, v in scores.items() if k.endswith("signature")},
            "n_decoded": len(decoded),
            "beam_size": self.cfg.eval_beam_size,
            "samples": samples,
            "summary": "\n".join(
                [
                    f"BLEU {scores['bleu']:.2f}  {scores['bleu_signature']}",
                    f"chrF {scores['chrf']:.2f}  {scores['chrf_signature']}",
                ]
                + [f"  src: {x['source']}\n  ref: {x['reference']}\n  hyp: {x['hypothesis']}" for x in samples]
            ),
        }
        log.info(
            "%s: BLEU %.2f (%s), chrF %.2f", self._eval_split, scores["bleu"], scores["bleu_signature"], scores["chrf"]
        )
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bleu": scores["bleu"], "chrf": scores["chrf"]}

    def details(self) -> dict[str, Any]:
        """sacrebleu signatures and sample translations of the last evaluation."""
        return dict(self._details)

    def samples(self, model: nn.Module, split: str, n: int) -> list[dict[str, str]]:
        """`n` fixed sentences of `split` (chosen by task.seed): source, reference and the model's translation."""
        data = self.data[split]
        idx = fixed_choice(len(data.sources), n, self.cfg.seed)
        if not idx:
            return []
        device = model_device(model)
        src_ids, src_mask = self._sources(data.src, np.asarray(idx, dtype=np.int64))
        outputs = self._decode(
            model, src_ids.to(device), src_mask.to(device),
            beam_size=self.cfg.eval_beam_size, length_penalty=None, max_length=None,
        )  # fmt: skip
        return [
            {"source": data.sources[i], "reference": data.references[i], "output": out}
            for i, out in zip(idx, outputs, strict=True)
        ]

    def translate(
        self,
        model: nn.Module,
        texts: list[str],
        *,
        beam_size: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
        batch_size: int = 32,
    ) -> list[str]:
        """Translations of raw source texts in their order (beam settings default to the task's config)."""
        device = model_device(model)
        src = Ragged.from_arrays(self.src_tok.encode_batch(texts))
        out: list[str] = [""] * len(src)
        for idx in bucketed_batches(src.lengths(), batch_size, seed=None, pool_batches=1):
            src_ids, src_mask = self._sources(src, idx)
            hyps = self._decode(
                model, src_ids.to(device), src_mask.to(device),
                beam_size=beam_size or self.cfg.beam_size, length_penalty=length_penalty, max_length=max_length,
            )  # fmt: skip
            for i, text in zip(idx.tolist(), hyps, strict=True):
                out[i] = text
        return out


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """sacrebleu corpus BLEU and chrF (default settings) with their signatures."""
    try:
        from sacrebleu import BLEU, CHRF
    except ImportError:
        raise PlaitError("translation metrics need sacrebleu: pip install sacrebleu") from None
    bleu, chrf = BLEU(), CHRF()
    return {
        "bleu": bleu.corpus_score(hypotheses, [references]).score,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


def build_translation(cfg: TranslationConfig) -> TranslationTask:
    """Translation from line-aligned files or a two-column file; greedy/beam decoding, BLEU and chrF."""
    return TranslationTask(cfg)
