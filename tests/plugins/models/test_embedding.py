"""Pretrained word vectors: GloVe / word2vec text, plain and zipped; coverage, freezing, errors, models."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch
from tiny_models import VOCAB, signal_classification, spec_for, train_losses

from framework.errors import PlaitError
from framework.kinds import MODELS
from framework.task import CLASSIFICATION
from plugins.models.embedding import EmbeddingConfig, make_embedding, read_vectors

VECTORS = {"the": [0.1, 0.2, 0.3, 0.4], "cat": [1.0, -1.0, 0.5, 0.0], "sat": [0.0, 0.0, 2.0, 1.0], "dog": [9, 9, 9, 9]}
TOKENS = ["<pad>", "<unk>", "the", "Cat", "sat", "zebra"]  # "Cat" is found through "cat"; 3 of 6 found
VOCAB_LIST = TOKENS + [f"w{i}" for i in range(VOCAB - len(TOKENS))]  # the tiny models' full vocabulary


def _lines(header: bool) -> str:
    body = "".join(f"{w} {' '.join(str(v) for v in vec)}\n" for w, vec in VECTORS.items())
    return (f"{len(VECTORS)} 4\n" if header else "") + body


@pytest.fixture
def glove(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.4d.txt"
    path.write_text(_lines(header=False))
    return path


def _embedding(path: str, freeze: bool = False, vocab: list[str] = TOKENS) -> torch.nn.Embedding:
    cfg = EmbeddingConfig(pretrained_embeddings=path, freeze_embeddings=freeze)
    return make_embedding(len(vocab), 4, 0, cfg, spec_for(CLASSIFICATION, vocab=vocab))


def _check_rows(embedding: torch.nn.Embedding) -> None:
    weight = embedding.weight.detach()
    torch.testing.assert_close(weight[2], torch.tensor(VECTORS["the"]))
    torch.testing.assert_close(weight[3], torch.tensor(VECTORS["cat"]))
    torch.testing.assert_close(weight[4], torch.tensor(VECTORS["sat"]))
    assert torch.all(weight[0] == 0), "the padding row stays zero"


def test_glove_coverage_and_rows(glove: Path, capsys: pytest.CaptureFixture[str]) -> None:
    embedding = _embedding(str(glove))
    cov = embedding.coverage
    assert (cov.found, cov.lowercase, cov.total, cov.dim) == (3, 1, 6, 4)
    assert cov.ratio == 0.5
    assert "3/6 tokens (50.0%), 1 by lower-case" in capsys.readouterr().out
    _check_rows(embedding)


def test_word2vec_header_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "tiny.w2v.txt"
    path.write_text(_lines(header=True))
    vectors, dim = read_vectors(str(path))
    assert dim == 4 and set(vectors) == set(VECTORS)
    _check_rows(_embedding(str(path)))


def test_zipped_vectors(tmp_path: Path) -> None:
    single = tmp_path / "single.zip"
    with zipfile.ZipFile(single, "w") as zf:
        zf.writestr("vectors.txt", _lines(header=False))
    assert _embedding(str(single)).coverage.found == 3
    several = tmp_path / "glove.tiny.zip"
    with zipfile.ZipFile(several, "w") as zf:
        zf.writestr("glove.tiny.txt", _lines(header=False))  # picked: its stem matches the archive's
        zf.writestr("other.txt", "the 5 5 5 5\n")
        zf.writestr("w2v.txt", _lines(header=True))
    _check_rows(_embedding(str(several)))
    _check_rows(_embedding(f"{several}::w2v.txt"))
    assert _embedding(f"{several}::other.txt").weight[2].tolist() == [5.0] * 4
    ambiguous = tmp_path / "ambiguous.zip"
    with zipfile.ZipFile(ambiguous, "w") as zf:
        zf.writestr("a.txt", _lines(header=False))
        zf.writestr("b.txt", _lines(header=False))
    with pytest.raises(PlaitError, match=r"members: a.txt, b.txt.*::<member>"):
        _embedding(str(ambiguous))


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_vectors_stay_fixed_while_training(glove: Path, freeze: bool) -> None:
    options = {"pretrained_embeddings": str(glove), "freeze_embeddings": freeze, "d_model": 4, "d_hidden": 8}
    model = MODELS.build(MODELS.config("lstm", **options), spec=spec_for(CLASSIFICATION, vocab=VOCAB_LIST))
    before = model.embed.weight.detach().clone()
    assert model.embed.weight.requires_grad is not freeze
    train_losses(model, CLASSIFICATION, signal_classification(n=16), steps=2)
    assert torch.equal(model.embed.weight, before) is freeze


def test_transformer_encoder_takes_pretrained_vectors(glove: Path) -> None:
    options = {"pretrained_embeddings": str(glove), "d_model": 4, "n_heads": 2, "d_ff": 8}
    model = MODELS.build(
        MODELS.config("transformer_encoder", **options), spec=spec_for(CLASSIFICATION, vocab=VOCAB_LIST)
    )
    torch.testing.assert_close(model.encoder.embed.weight[3].detach(), torch.tensor(VECTORS["cat"]))
    assert model.encoder.embed.coverage.found == 3


def test_errors_name_path_and_sizes(glove: Path, tmp_path: Path) -> None:
    cfg = EmbeddingConfig(pretrained_embeddings=str(glove))
    with pytest.raises(PlaitError, match=r"4 dimensions but the embedding has 8.*d_model=4"):
        make_embedding(len(TOKENS), 8, 0, cfg, spec_for(CLASSIFICATION, vocab=TOKENS))
    with pytest.raises(PlaitError, match="missing.txt' does not exist"):
        _embedding(str(tmp_path / "missing.txt"))
    with pytest.raises(PlaitError, match="spec.vocab"):
        _embedding(str(glove), vocab=[])
    with pytest.raises(PlaitError, match="pretrained_embeddings=<path>"):
        make_embedding(6, 4, 0, EmbeddingConfig(freeze_embeddings=True), spec_for(CLASSIFICATION))
    bad = tmp_path / "bad.txt"
    bad.write_text("the 0.1 0.2\ncat 0.1 oops\n")
    with pytest.raises(PlaitError, match="bad.txt:2"):
        _embedding(str(bad))
