"""Every registered tokenizer runs through framework.testing.contracts.TokenizerContract: round trip, save/load,
special ids, batch == single, vocabulary consistent with ids."""

from __future__ import annotations

from pathlib import Path

from tokenizer_corpus import corpus, make_tokenizer

from framework.kinds import TOKENIZERS
from framework.plugins import load_plugins
from framework.testing.contracts import TokenizerContract

load_plugins()
NAMES = TOKENIZERS.names()

# What decode(encode(text)) promises, per tokenizer (a tokenizer missing here is held to "stable"):
#   exact       decode(encode(x)) == x for any text (byte_level_bpe: any UTF-8; char: characters seen in training)
#   normalised  == x for text that is already normalised (NFC/NFKC, single spaces) and made of seen characters
#   stable      decode may re-space punctuation or drop case, but re-encoding the decoded text gives the same ids
ROUND_TRIP = {
    "char": "exact",
    "byte_level_bpe": "exact",
    "hf_pretrained": "exact",  # the test fixture is a GPT-2-style byte-level BPE
    "bpe": "normalised",  # NFC + Metaspace
    "unigram": "normalised",  # NFKC + Metaspace
    "word": "stable",  # "Hallo, Welt!" decodes as "Hallo , Welt !"
    "wordpiece": "stable",  # BERT normaliser; decoder cleanup re-attaches most punctuation
}
PRETRAINED = {"hf_pretrained"}  # ids come from elsewhere; every other tokenizer trains its own vocabulary

HELD_OUT = corpus(20, seed=99)  # same vocabulary, unseen sentences
UNICODE = ["Grüße aus Köln 😀 – naïve café\n\tzwei  Leerzeichen", "中文 и кириллица", " leading space", ""]


class BuiltInTokenizerContract(TokenizerContract):
    """framework.testing.contracts.TokenizerContract on the shared German/English corpus (plus Unicode when exact)."""

    def corpus(self) -> list[str]:
        return corpus()

    def held_out(self) -> list[str]:
        return HELD_OUT + (UNICODE if self.round_trip == "exact" and self.key != "char" else [])

    def make(self, tmp_path: Path):
        return make_tokenizer(self.key, tmp_path)


for _name in NAMES:
    _cls = f"Test_{_name}"
    globals()[_cls] = type(
        _cls,
        (BuiltInTokenizerContract,),
        {
            "key": _name,
            "round_trip": ROUND_TRIP.get(_name, "stable"),
            "pretrained": _name in PRETRAINED,
            "__module__": __name__,
        },
    )


def test_special_tokens_survive_save_load(tmp_path: Path) -> None:
    for name in NAMES:
        tokenizer = make_tokenizer(name, tmp_path / name)
        tokenizer.save(tmp_path / name / "saved")
        fresh = TOKENIZERS.build(TOKENIZERS.config(name))
        fresh.load(tmp_path / name / "saved")
        assert fresh.special_tokens() == tokenizer.special_tokens()
        assert tokenizer.pad_id == tokenizer.token_to_id(tokenizer.special_tokens()["pad"])


def tokenizer_name(tokenizer) -> str:
    """The registry key a built tokenizer came from."""
    return tokenizer.cfg._name_
