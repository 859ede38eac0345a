"""The tokenizers a task gets: trained (or reused from the task's cache of tokenizers trained on the same texts)
and saved in the run for training; loaded from the checkpoint, never trained, for inference."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sized
from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.engine import distributed
from framework.engine.disk import writing
from framework.errors import PlaitError
from framework.kinds import TOKENIZERS
from framework.schema import NAME_FIELD
from framework.task import TokenizerFactory
from framework.tokenizer import Tokenizer

TOKENIZER_DIR = "tokenizer"


def options_digest(tokenizer_cfg: Any) -> str:
    """sha256 of a tokenizer's options and the version of the plugin providing it: equal digests, equal training."""
    if not isinstance(tokenizer_cfg, DictConfig):
        tokenizer_cfg = OmegaConf.structured(tokenizer_cfg)
    name = tokenizer_cfg.get(NAME_FIELD)
    source = TOKENIZERS.source(name) if isinstance(name, str) and name in TOKENIZERS else None
    provider = f"{source.distribution}=={source.version}" if source is not None else ""
    text = OmegaConf.to_yaml(tokenizer_cfg, resolve=True, sort_keys=True) + provider
    return hashlib.sha256(text.encode()).hexdigest()


def train_tokenizer(tokenizer: Tokenizer, texts: Iterable[str]) -> None:
    """Train `tokenizer` on `texts`, telling it their number when they know it."""
    tokenizer.train(texts, length=len(texts) if isinstance(texts, Sized) else None)


def keep_tokenizer(tokenizer: Tokenizer, kept: Path) -> None:
    """Save `tokenizer` as `kept`, all at once (a temporary directory renamed; a copy already there stays)."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{kept.name}.tmp-", dir=kept.parent))
    try:
        tokenizer.save(tmp)
        os.replace(tmp, kept)
    except OSError:
        if not kept.is_dir():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def training_tokenizers(tokenizer_cfg: Any, run_dir: Path, resume_from: Path | None) -> TokenizerFactory:
    """Tokenizers per role for training: reloaded from the resumed checkpoint, else reused from the task's
    `reuse` directory when one was trained there on the same texts with the same options, else trained; saved in
    the run (and kept in `reuse`)."""

    def factory(role: str, texts: Callable[[], Iterable[str]], *, reuse: Path | None = None) -> Tokenizer:
        tokenizer = TOKENIZERS.build(tokenizer_cfg)
        target = run_dir / TOKENIZER_DIR / role
        saved = resume_from / TOKENIZER_DIR / role if resume_from is not None else None
        kept = reuse / options_digest(tokenizer_cfg) / role if reuse is not None else None
        if not distributed.is_main():  # other ranks load what rank 0 trained or restored (one writer)
            distributed.barrier()
            tokenizer.load(target)
            return tokenizer
        undo = partial(shutil.rmtree, target, ignore_errors=True)  # a half-written tokenizer is removed
        if saved is not None and saved.exists():
            tokenizer.load(saved)
            if saved.resolve() != target.resolve():
                with writing(f"the tokenizer {target}", run_dir, undo=undo):
                    shutil.rmtree(target, ignore_errors=True)
                    shutil.copytree(saved, target)
        else:
            if kept is not None and kept.is_dir():
                tokenizer.load(kept)
            else:
                train_tokenizer(tokenizer, texts())
                if kept is not None:
                    with writing(f"the cached tokenizer {kept}", kept):  # keep_tokenizer leaves nothing half-written
                        keep_tokenizer(tokenizer, kept)
            with writing(f"the tokenizer {target}", run_dir, undo=undo):
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True)
                tokenizer.save(target)
        distributed.barrier()
        return tokenizer

    return factory


def saved_tokenizers(tokenizer_cfg: Any, checkpoint: Path) -> TokenizerFactory:
    """Tokenizers per role for inference: loaded from the checkpoint, never trained, nothing written."""

    def factory(role: str, texts: Callable[[], Iterable[str]], *, reuse: Path | None = None) -> Tokenizer:
        saved = checkpoint / TOKENIZER_DIR / role
        if not saved.is_dir():
            raise PlaitError(f"the run's tokenizer for '{role}' is missing: {saved} (the checkpoint is incomplete)")
        tokenizer = TOKENIZERS.build(tokenizer_cfg)
        try:
            tokenizer.load(saved)
        except Exception as exc:  # a damaged file: name it rather than echo a parser's message
            raise PlaitError(f"cannot load the run's tokenizer from {saved}: {exc}") from None
        return tokenizer

    return factory
