"""End-to-end memory network (`model=memn2n`), Sukhbaatar, Szlam, Weston & Fergus, NeurIPS 2015, for the story
form of task kind question_answering (bAbI).

Each story sentence x_i (L words) becomes an input memory m_i = sum_j l_j * A x_ij + T_A(i) and an output memory
c_i = sum_j l_j * C x_ij + T_C(i); the question u = sum_j l_j * B q_j. A hop: p = softmax(u . m), o = sum_i p_i c_i,
u <- u + o. After K hops the answer logits are W u.
- Adjacent weight tying (the paper's section 2.2): A^{k+1} = C^k and B = A^1, likewise for the temporal tables;
  so K + 1 embedding tables serve K hops. The paper also ties W^T = C^K because its answers are single words;
  here answers are classes (multi-word answers of tasks 8 and 19 are one class each), so W is its own Linear.
- Position encoding (PE): l_kj = (1 - j/J) - (k/d)(1 - 2j/J), J the sentence's real length, d the width.
- Temporal encoding (TE): T(i) is learned per recency index i (0 = the latest sentence).
- Linear start (LS), optional: for the first `linear_start_steps` training forward passes the memory softmax is
  left out (p = u . m); the paper inserts it when the validation loss stops falling. The count is a buffer, so it
  resumes with the checkpoint. With Adam it did not pay on 1k joint: after 1000 linear steps (lr 0.005) the scores
  are moderate (mean |u.m| 0.7, 1.9, 6.9 per hop) but the read-out has learned the linear sum over all memories, so
  inserting the softmax lifts the test loss from 1.12 to 3.52; 5000-step runs ended at 36.4% test error (hard
  switch) and 58.3% (the softmax blended in over 1000 steps) against 22.8% with RN alone (seed 0). So the
  `taylor` form makes the linear phase the softmax's first-order expansion, p_i = (1 + s_i - mean s) / n: the
  read-out stays an average over memories, and at the switch only the higher-order terms change. With it,
  RN + LS (1000 steps, lr 0.01) reached 19.9% / 21.0% over two seeds (conf/experiment/babi_1k_joint.yaml).
- Random noise (RN), optional, training only: the paper adds 10% empty memories to the stories so that T_A/T_C do
  not overfit the exact recency. With chance `random_noise` an empty memory is inserted after each real sentence;
  empty memories hold no words, so they are not materialised (never attended; a choice, the paper does not say):
  their effect is to push every older sentence's recency index back. Evaluation is unchanged.

forward(story (B, N, L) long, question (B, Q) long) -> answer logits (B, n_answers); padding is spec.pad_id.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from framework import QUESTION_ANSWERING, PlaitError, TaskSpec
from plugins.models.configs import MemN2NConfig
from plugins.models.kinds import check_kind


def position_weights(mask: Tensor, d: int) -> Tensor:
    """PE weights (..., L, d) for word masks (..., L): l_kj = (1 - j/J) - (k/d)(1 - 2j/J), j and k from 1,
    J the number of real words; zero on padding."""
    length = mask.sum(-1, keepdim=True).clamp_min(1).to(torch.float32)  # (..., 1)
    j = torch.arange(1, mask.shape[-1] + 1, device=mask.device, dtype=torch.float32) / length  # (..., L)
    k = torch.arange(1, d + 1, device=mask.device, dtype=torch.float32) / d  # (d,)
    weights = (1 - j).unsqueeze(-1) - k * (1 - 2 * j).unsqueeze(-1)
    return weights * mask.unsqueeze(-1).to(weights.dtype)


class MemN2N(nn.Module):
    """End-to-end memory network with adjacent weight tying, PE, TE and optional linear start."""

    trained_steps: Tensor  # a buffer: training forward passes so far (for the linear start)

    def __init__(self, cfg: MemN2NConfig, spec: TaskSpec) -> None:
        super().__init__()
        if cfg.hops < 1 or cfg.d_model < 1:
            raise PlaitError("model.hops and model.d_model must be at least 1")
        if cfg.linear_start_form not in ("plain", "taylor"):
            raise PlaitError(f"model.linear_start_form={cfg.linear_start_form!r}: use plain or taylor")
        self.cfg = cfg
        self.pad_id = spec.pad_id
        self.memory_size = int(spec.extra.get("memory_size", 50))
        tables = [nn.Embedding(spec.vocab_size, cfg.d_model, padding_idx=spec.pad_id) for _ in range(cfg.hops + 1)]
        self.embed = nn.ModuleList(tables)
        self.temporal = nn.Parameter(torch.zeros(cfg.hops + 1, self.memory_size, cfg.d_model))
        self.out = nn.Linear(cfg.d_model, spec.n_classes or 2, bias=False)
        self.register_buffer("trained_steps", torch.zeros((), dtype=torch.long))
        for emb in tables:
            nn.init.normal_(emb.weight, std=cfg.init_std)
            with torch.no_grad():
                emb.weight[spec.pad_id].zero_()
        nn.init.normal_(self.temporal, std=cfg.init_std)
        nn.init.normal_(self.out.weight, std=cfg.init_std)

    def _encoder(self, ids: Tensor) -> Callable[[int], Tensor]:
        """Sentence vectors (..., d) of word ids (..., L) per embedding table; PE weights computed once for all."""
        weights = position_weights(ids != self.pad_id, self.cfg.d_model) if self.cfg.position_encoding else None

        def encode(table: int) -> Tensor:
            words: Tensor = self.embed[table](ids)  # (..., L, d)
            if weights is not None:
                words = words * weights.to(words.dtype)
            return words.sum(-2)

        return encode

    def _linear_attention(self, scores: Tensor, real: Tensor) -> Tensor:
        """LS attention (B, N): u.m itself (plain), or softmax's first-order form (1 + s_i - mean s) / n (taylor),
        which keeps the read-out an average over memories so that the softmax can take over."""
        scores = scores.masked_fill(~real, 0.0)
        if self.cfg.linear_start_form == "plain":
            return scores
        n = real.sum(-1, keepdim=True).clamp_min(1).to(scores.dtype)
        centred = scores - scores.sum(-1, keepdim=True) / n
        return ((1 + centred) / n).masked_fill(~real, 0.0)

    def _empty_memories_after(self, real: Tensor) -> Tensor:
        """RN: (B, N) recency shifts from empty memories inserted at random, one after each real sentence with
        chance random_noise; a sentence moves back by the number inserted after it (itself up to the latest)."""
        inserted = (torch.rand(real.shape, device=real.device) < self.cfg.random_noise) & real
        return inserted.flip(1).cumsum(1).flip(1)

    def forward(self, story: Tensor, question: Tensor) -> Tensor:
        """story (B, N, L), question (B, Q) -> answer logits (B, n_answers)."""
        if self.training:
            self.trained_steps += 1
        # in the linear phase evaluation is linear too: the model was trained without the softmax so far
        linear = self.cfg.linear_start_steps > 0 and int(self.trained_steps) <= self.cfg.linear_start_steps
        real = (story != self.pad_id).any(-1)  # (B, N): sentences that exist (oldest first, padding at the end)
        recency = real.sum(1, keepdim=True) - 1 - torch.arange(story.shape[1], device=story.device)  # 0: latest
        real = real & (recency < self.memory_size)  # only the latest memory_size sentences are memories
        if self.training and self.cfg.random_noise > 0:
            recency = recency + self._empty_memories_after(real)
        recency = recency.clamp(0, self.memory_size - 1)
        u = self._encoder(question)(0)  # (B, d)
        # adjacent tying: hop h's output table is hop h+1's memory table, so each table encodes the story once
        encode = self._encoder(story)
        sentences = [encode(table) for table in range(self.cfg.hops + 1)]  # (B, N, d) each
        for hop in range(self.cfg.hops):
            memory, output = sentences[hop], sentences[hop + 1]
            if self.cfg.temporal_encoding:
                memory = memory + self.temporal[hop][recency].to(memory.dtype)
                output = output + self.temporal[hop + 1][recency].to(output.dtype)
            scores = torch.einsum("bnd,bd->bn", memory, u)
            if linear:
                attention = self._linear_attention(scores, real)
            else:
                attention = scores.masked_fill(~real, float("-inf")).softmax(-1).nan_to_num(0.0)
            u = u + torch.einsum("bn,bnd->bd", attention, output)
        logits: Tensor = self.out(u)
        return logits


def build_memn2n(cfg: MemN2NConfig, *, spec: TaskSpec) -> MemN2N:
    """End-to-end memory network (Sukhbaatar et al. 2015) for bAbI-style story question answering."""
    check_kind("memn2n", spec, (QUESTION_ANSWERING,))
    if spec.extra.get("format", "babi") != "babi":
        raise PlaitError(
            "model=memn2n reads stories (task.format=babi); for spans use transformer_encoder, lstm or gru"
        )
    return MemN2N(cfg, spec)
