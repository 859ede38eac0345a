"""Translation: source sentences -> target sentences with a seq2seq model; loss, perplexity, BLEU and chrF.

Data: line-aligned files (a path holding `{lang}`, e.g. `train.{lang}` -> train.de / train.en) or one
TSV/CSV/JSONL/HF file with a column per language. Tokenizers come from the factory by role: `source`
and `target`, or one `shared` tokenizer trained on both sides. BLEU and chrF are sacrebleu's, computed
on detokenized hypotheses against the raw reference lines; their signatures are logged and reported.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framework.registry import TASKS, PlaitError
from framework.task import SEQ2SEQ, Batch, Task, TaskSpec, TokenizerFactory
from framework.validation import above, at_least, between
from plugins.tasks.batching import bucketed_batches, pad
from plugins.tasks.beam_search import beam_search
from plugins.tasks.demo_corpora import parallel
from plugins.tasks.text_data import Row, TextDataConfig, detect_format, load_splits, read_parallel, read_records
from plugins.tasks.token_cache import Ragged, TokenCache, cache_root

log = logging.getLogger(__name__)
N_SAMPLES = 5  # example translations kept in `details()`


@dataclass
class TranslationConfig(TextDataConfig):
    """Sentence pairs and how to decode."""

    source_lang: str = "en"  # source language: fills {lang} in paths and is the default source column
    target_lang: str = "pseudo"  # target language (the demo corpus's is a made-up one)
    source_column: Optional[str] = None  # source column / key in tsv/csv/jsonl/hf_disk files; null: source_lang
    target_column: Optional[str] = None  # target column / key; null: target_lang
    shared_vocab: bool = False  # one tokenizer (role "shared") for both sides instead of "source" + "target"
    max_length: int = 128  # tokens kept per sentence on each side (the target's BOS/EOS included)
    bucket_pool_batches: int = 50  # sort pools of this many batches by length (less padding); 1: plain shuffle
    label_smoothing: float = 0.1  # training loss label smoothing
    beam_size: int = 5  # beams for `plait translate` (1: greedy)
    eval_beam_size: int = 1  # beams when evaluating BLEU/chrF (1: greedy, the fastest)
    length_penalty: float = 0.6  # GNMT length penalty exponent (0: rank by log-probability)
    max_decode_length: int = 100  # most target tokens generated per sentence
    decode_length_ratio: Optional[float] = 2.0  # also at most ratio x the batch's longest source + 10; null: off
    eval_decode_limit: Optional[int] = None  # sentences decoded for BLEU/chrF per evaluation; null: all
    demo_size: int = 4000  # sentence pairs in the generated corpus (when train_path is null)

    def validate(self) -> None:
        """Range checks, run before any work (framework.validation)."""
        super().validate()
        between(self, "label_smoothing", 0, 1, high_open=True)
        at_least(self, 0, "length_penalty")
        above(self, 0, "decode_length_ratio")


@dataclass
class Pairs:
    """Token ids of both sides of one split and its raw text (references for BLEU)."""

    src: Ragged
    tgt: Ragged
    sources: list[str]
    references: list[str]


class TranslationTask(Task):
    """Seq2seq; the model maps (src_ids, src_mask, tgt_in) to target logits and has encode/decode."""

    throughput_unit = "tokens"

    def __init__(self, cfg: TranslationConfig, data_root: str | None = None) -> None:
        self.cfg = cfg
        self.data: dict[str, Pairs] = {}
        self._details: dict[str, Any] = {}

    # -- data ------------------------------------------------------------------------------------

    def _read(self, path: str, split: str) -> list[Row]:
        c = self.cfg
        if detect_format(Path(path), c.format) == "parallel":
            return read_parallel(path, (c.source_lang, c.target_lang))
        columns = [c.source_column or c.source_lang, c.target_column or c.target_lang]
        return read_records(path, columns, c.format, split=split)

    def _generated(self) -> dict[str, list[Row]]:
        c, n_eval = self.cfg, max(100, self.cfg.demo_size // 10)
        sizes = {"train": (c.demo_size, c.seed), "val": (n_eval, c.seed + 1), "test": (n_eval, c.seed + 2)}
        return {
            s: [(f"<generated {s}>:{i}", [src, tgt]) for i, (src, tgt) in enumerate(parallel(n, seed), 1)]
            for s, (n, seed) in sizes.items()
        }

    def setup(self, tokenizer_factory: TokenizerFactory) -> TaskSpec:
        """Read the pairs, get source/target (or shared) tokenizers, tokenize through the cache."""
        c = self.cfg
        raw = load_splits(c, self._read, self._generated)
        train = raw["train"]
        if c.shared_vocab:
            shared = tokenizer_factory("shared", lambda: [side for _, pair in train for side in pair])
            self.src_tok = self.tgt_tok = shared
        else:
            self.src_tok = tokenizer_factory("source", lambda: [src for _, (src, _) in train])
            self.tgt_tok = tokenizer_factory("target", lambda: [tgt for _, (_, tgt) in train])
        root = cache_root(c.cache_dir) if c.cache else None
        src_cache = TokenCache(self.src_tok, root)
        tgt_cache = src_cache if c.shared_vocab else TokenCache(self.tgt_tok, root)
        for split, rows in raw.items():
            sources, targets = [p[0] for _, p in rows], [p[1] for _, p in rows]
            self.data[split] = Pairs(
                src_cache.encode(sources, "source"), tgt_cache.encode(targets, "target"), sources, targets
            )
        self.pad_id = self.src_tok.pad_id
        self.bos_id, self.eos_id = self.tgt_tok.special_id("bos"), self.tgt_tok.special_id("eos")
        if self.tgt_tok.pad_id != self.pad_id:
            raise PlaitError("the source and target tokenizers must share the pad id; use tokenizers with <pad> = 0")
        return TaskSpec(
            kind=SEQ2SEQ,
            vocab_size=self.src_tok.vocab_size,
            target_vocab_size=self.tgt_tok.vocab_size,
            pad_id=self.pad_id,
            max_length=c.max_length,
            vocab=self.src_tok.vocabulary(),
            extra={"bos_id": self.bos_id, "eos_id": self.eos_id},
        )

    def splits(self) -> list[str]:
        """Splits with sentence pairs."""
        return list(self.data)

    def _sources(self, seqs: Sequence[np.ndarray | list[int]]) -> tuple[Tensor, Tensor]:
        return pad(seqs, self.pad_id, max_length=self.cfg.max_length, empty_id=self.src_tok.special_id("unk"))

    def batches(self, split: str, *, batch_size: int, epoch_seed: int, start: int = 0) -> Iterator[Batch]:
        """Length-bucketed (src_ids, src_mask, tgt_in, tgt_out) batches; train shuffled by `epoch_seed`."""
        data, limit = self.data[split], self.cfg.max_length
        lengths = np.maximum(np.minimum(data.src.lengths(), limit), np.minimum(data.tgt.lengths() + 1, limit))
        for idx in bucketed_batches(
            lengths,
            batch_size,
            seed=epoch_seed if split == "train" else None,
            pool_batches=self.cfg.bucket_pool_batches,
        )[start:]:
            src_ids, src_mask = self._sources([data.src[i] for i in idx])
            targets = [data.tgt[i] for i in idx]
            tgt_in, _ = pad(targets, self.pad_id, max_length=limit, prefix=self.bos_id)
            tgt_out, tgt_mask = pad(targets, self.pad_id, max_length=limit, suffix=self.eos_id)
            tensors = {"src_ids": src_ids, "src_mask": src_mask, "tgt_in": tgt_in, "tgt_out": tgt_out}
            yield Batch(tensors, n_samples=len(idx), n_tokens=int(src_mask.sum() + tgt_mask.sum()))

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

    def translate_ids(
        self,
        model: nn.Module,
        src: Sequence[np.ndarray | list[int]],
        *,
        device: torch.device,
        autocast: Callable[[], AbstractContextManager],
        beam_size: int,
        length_penalty: float | None = None,
        max_length: int | None = None,
        batch_size: int = 32,
    ) -> list[str]:
        """Detokenized translations of token-id sources, in their order (decoded in length-sorted batches)."""
        c = self.cfg
        max_new = min(max_length or c.max_decode_length, c.max_length)
        lengths = np.array([len(s) for s in src])
        out: list[str] = [""] * len(src)
        for idx in bucketed_batches(lengths, batch_size, seed=None, pool_batches=1):
            src_ids, src_mask = self._sources([src[i] for i in idx])
            limit = max_new
            if c.decode_length_ratio is not None:
                limit = min(limit, int(c.decode_length_ratio * int(src_mask.sum(1).max())) + 10)
            ids = beam_search(
                model,
                src_ids.to(device),
                src_mask.to(device),
                bos_id=self.bos_id,
                eos_id=self.eos_id,
                beam_size=beam_size,
                max_new_tokens=limit,
                length_penalty=c.length_penalty if length_penalty is None else length_penalty,
                autocast=autocast,
            )
            for i, text in zip(idx.tolist(), self.tgt_tok.decode_batch(ids), strict=True):
                out[i] = text
        return out

    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        split: str,
        *,
        batch_size: int,
        device: torch.device,
        autocast: Callable[[], AbstractContextManager],
    ) -> dict[str, float]:
        """Teacher-forced loss and perplexity, then BLEU and chrF of decoded translations (sacrebleu)."""
        total, count = 0.0, 0
        for batch in self.batches(split, batch_size=batch_size, epoch_seed=0):
            batch = batch.to(device)
            with autocast():
                logits = model(batch["src_ids"], batch["src_mask"], batch["tgt_in"]).float()
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1), batch["tgt_out"].flatten(), ignore_index=self.pad_id, reduction="sum"
                )
            )
            count += int((batch["tgt_out"] != self.pad_id).sum())
        loss = total / max(count, 1)
        data = self.data[split]
        n = (
            len(data.sources)
            if self.cfg.eval_decode_limit is None
            else min(self.cfg.eval_decode_limit, len(data.sources))
        )
        hyps = self.translate_ids(
            model,
            [data.src[i] for i in range(n)],
            device=device,
            autocast=autocast,
            beam_size=self.cfg.eval_beam_size,
            batch_size=batch_size,
        )
        scores = corpus_scores(hyps, data.references[:n])
        self._details = {
            **{k: v for k, v in scores.items() if k.endswith("signature")},
            "n_decoded": n,
            "beam_size": self.cfg.eval_beam_size,
            "samples": [
                {"source": s, "reference": r, "hypothesis": h}
                for s, r, h in zip(
                    data.sources[:N_SAMPLES], data.references[:N_SAMPLES], hyps[:N_SAMPLES], strict=False
                )
            ],
        }
        self._details["summary"] = "\n".join(
            [
                f"BLEU {scores['bleu']:.2f}  {scores['bleu_signature']}",
                f"chrF {scores['chrf']:.2f}  {scores['chrf_signature']}",
            ]
            + [
                f"  src: {x['source']}\n  ref: {x['reference']}\n  hyp: {x['hypothesis']}"
                for x in self._details["samples"]
            ]
        )
        log.info(
            "%s: BLEU %.2f (%s), chrF %.2f (%s)",
            split,
            scores["bleu"],
            scores["bleu_signature"],
            scores["chrf"],
            scores["chrf_signature"],
        )
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "bleu": scores["bleu"], "chrf": scores["chrf"]}

    def details(self) -> dict[str, Any]:
        """sacrebleu signatures and sample translations of the last evaluation."""
        return dict(self._details)

    def translate(
        self,
        model: nn.Module,
        texts: list[str],
        *,
        device: torch.device,
        autocast: Callable[[], AbstractContextManager],
        beam_size: int | None = None,
        length_penalty: float | None = None,
        max_length: int | None = None,
    ) -> list[str]:
        """Translations of raw source texts (beam settings default to the task's config)."""
        return self.translate_ids(
            model,
            self.src_tok.encode_batch(texts),
            device=device,
            autocast=autocast,
            beam_size=beam_size or self.cfg.beam_size,
            length_penalty=length_penalty,
            max_length=max_length,
        )


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict[str, Any]:
    """sacrebleu corpus BLEU and chrF (default settings) with their signatures."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise PlaitError("translation metrics need sacrebleu: pip install sacrebleu") from None
    bleu, chrf = BLEU(), CHRF()
    return {
        "bleu": bleu.corpus_score(hypotheses, [references]).score,
        "chrf": chrf.corpus_score(hypotheses, [references]).score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
    }


@TASKS.register("translation", config=TranslationConfig)
def build_translation(cfg: TranslationConfig, *, data_root: str | None = None) -> TranslationTask:
    """Translation from line-aligned files or a two-column file; greedy/beam decoding, BLEU and chrF."""
    return TranslationTask(cfg, data_root)
