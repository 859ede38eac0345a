"""A long text cut into pieces that a tokenizer encodes one by one to the same ids as the whole text.

Tokenizers split text into words before encoding it, and none of the shipped ones joins a word across a single
space between two non-space characters: that space opens the next word (Metaspace's `▁word` in bpe and unigram,
GPT-2's ` word` in byte_level_bpe) and char, word and wordpiece split there anyway. So a text cut just before
such a space encodes, piece by piece, to exactly the ids of the whole text. A line end is no safe cut: Metaspace
keeps a line feed inside a word (`b\\nc` is one word) and GPT-2's split joins a line feed to the next line's indent,
so lines encoded apart differ from the whole text.

The one exception: a stretch of `size / 2` characters without such a space (text written without spaces, such as
Chinese or Japanese, or one enormous token) is cut after a line feed there, else anywhere, and the ids next to
that cut may differ from the whole text's (one cut per `size / 2` such characters).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

PIECE_CHARS = 1 << 12  # characters per piece: the tokenizers library encodes longer texts more slowly per character


def safe_cut(text: str, start: int, end: int) -> int:
    """Where to end the piece `text[start:end]`: before the last space between two non-space characters in its
    second half, else after its last line feed there, else at `end` (needs `end < len(text)`)."""
    low = start + max(1, (end - start) // 2)
    space = text.rfind(" ", low, end)
    while space > low:
        if not text[space - 1].isspace() and not text[space + 1].isspace():
            return space
        space = text.rfind(" ", low, space)
    line_end = text.rfind("\n", low, end)
    return line_end + 1 if line_end >= 0 else end


def text_pieces(chunks: Iterable[str], size: int = PIECE_CHARS) -> Iterator[str]:
    """One text, given in chunks of any size, cut again into pieces of at most `size` characters at safe places
    (see the module's note); joined, the pieces are the text. Nothing is yielded for an empty text."""
    if size < 2:
        raise ValueError(f"pieces hold at least 2 characters, not {size}")
    held = ""
    for chunk in chunks:
        held += chunk
        start = 0
        while len(held) - start > size:
            cut = safe_cut(held, start, start + size)
            yield held[start:cut]
            start = cut
        held = held[start:]
    if held:
        yield held
