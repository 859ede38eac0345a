"""The config schemas of plait-example's torch-using components, kept in a module that imports no torch, so
`plait list`, `plait describe` and `plait train --help` read them without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from framework import CLASSIFICATION, ComponentConfig


@dataclass
class BagOfEmbeddingsConfig(ComponentConfig):
    """Options of the bag-of-embeddings classifier."""

    d_model: int = 64  # embedding width
    dropout: float = 0.1  # dropout before the classifier

    @classmethod
    def tiny(cls, kind: str | None) -> dict | None:
        """Tiny options for the contract tests (framework.testing.ModelContract): classification only."""
        return {"d_model": 8} if kind in (None, CLASSIFICATION) else None


@dataclass
class NoamConfig(ComponentConfig):
    """Options of the Noam (inverse square-root) schedule."""

    warmup_steps: int = 100  # linear warmup to the peak lr over this many optimizer steps
