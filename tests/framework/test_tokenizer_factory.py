"""The training tokenizer factory: a tokenizer trained on the same texts with the same options is reused from the
task's `reuse` directory (no second training), saved in the run either way; other options train again."""

from __future__ import annotations

from pathlib import Path

from framework.engine.tokenizer_factory import TOKENIZER_DIR, options_digest, training_tokenizers
from framework.kinds import TOKENIZERS
from framework.plugins import load_plugins


def test_a_tokenizer_trained_on_the_same_texts_is_reused_and_saved_in_each_run(tmp_path: Path) -> None:
    load_plugins()
    trained: list[int] = []

    def texts() -> list[str]:
        trained.append(1)
        return ["hello world", "hold the line"]

    reuse = tmp_path / "reuse"
    cfg = TOKENIZERS.config("char")
    first = training_tokenizers(cfg, tmp_path / "one", None)("text", texts, reuse=reuse)
    second = training_tokenizers(cfg, tmp_path / "two", None)("text", texts, reuse=reuse)
    assert len(trained) == 1 and second.vocabulary() == first.vocabulary()
    assert (tmp_path / "two" / TOKENIZER_DIR / "text").is_dir()
    assert [p.name for p in reuse.iterdir()] == [options_digest(cfg)]  # no temporary directory left
    other = TOKENIZERS.config("char", lowercase=True)
    assert options_digest(other) != options_digest(cfg)
    training_tokenizers(other, tmp_path / "three", None)("text", texts, reuse=reuse)
    assert len(trained) == 2
    training_tokenizers(cfg, tmp_path / "four", None)("text", texts)  # no reuse directory: always trains
    assert len(trained) == 3
