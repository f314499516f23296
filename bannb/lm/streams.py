"""A corpus as the language models read it: token streams cut into rows, truncated-BPTT windows along them, and
the per-token log-probabilities a model gives a stream (its perplexity)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bannb.data.text import load_corpus
from bannb.errors import ConfigError
from bannb.lm.config import LMRunConfig
from bannb.models.lstm_lm import LSTMLanguageModel

EVAL_BATCH_SIZE = 10  # streams evaluated in parallel (the PyTorch example's); each stream's first token has no context


def batchify(ids: torch.Tensor, batch_size: int, what: str = "a stream") -> torch.Tensor:
    """The stream cut into `batch_size` contiguous rows (batch, length); the last len % batch_size tokens are dropped.
    `what` names the stream in the message of one too short."""
    length = ids.numel() // batch_size
    if length < 2:
        raise ConfigError(f"{what} ({ids.numel()} tokens) is too short for {batch_size} rows of at least 2 tokens; "
                          f"use a smaller batch or more tokens")
    return ids[:length * batch_size].view(batch_size, length)


def bptt_windows(rows: torch.Tensor, bptt: int):
    """(inputs, targets) windows of at most `bptt` steps along the rows; targets are the inputs shifted by one."""
    for start in range(0, rows.shape[1] - 1, bptt):
        steps = min(bptt, rows.shape[1] - 1 - start)
        yield rows[:, start:start + steps], rows[:, start + 1:start + 1 + steps]


def lm_streams(config: LMRunConfig) -> tuple[dict[str, torch.Tensor], int]:
    """The train/valid/test token streams the config reads, and the vocabulary size."""
    corpus = load_corpus(config.corpus, max_vocab=config.max_vocab)
    streams = {split: corpus.ids(split) for split in ("train", "valid", "test")}
    streams["train"] = streams["train"][:config.train_tokens]
    for split in ("valid", "test"):
        streams[split] = streams[split][:config.eval_tokens]
    return streams, corpus.vocab_size


def check_streams(config: LMRunConfig, streams: dict[str, torch.Tensor]) -> None:
    """Refuse a run whose streams (`lm_streams`) are too short for its rows (the training batch, the evaluation's
    rows), before anything of the run is written."""
    for split, rows in (("train", config.batch_size), ("valid", EVAL_BATCH_SIZE), ("test", EVAL_BATCH_SIZE)):
        batchify(streams[split], rows, f"the {split} stream of run {config.run_id}")


# ---------------------------------------------------------------- evaluation

@torch.no_grad()
def token_log_probs(model: LSTMLanguageModel, ids: torch.Tensor, bptt: int = 35,
                    batch_size: int = EVAL_BATCH_SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probability of each target, and the targets, as (batch_size, length − 1) tensors (eval mode)."""
    was_training = model.training
    model.eval()
    rows = batchify(ids, batch_size).to(model.embedding.weight.device)
    state, log_probs = None, []
    for inputs, targets in bptt_windows(rows, bptt):
        logits, state = model(inputs, state)
        log_probs.append(F.log_softmax(logits.float(), dim=-1).gather(-1, targets[..., None]).squeeze(-1))
    model.train(was_training)
    return torch.cat(log_probs, dim=1).cpu(), rows[:, 1:].cpu()


def perplexity(model: LSTMLanguageModel, ids: torch.Tensor, bptt: int = 35) -> tuple[float, float]:
    """(mean cross-entropy per token in nats, perplexity) of the stream."""
    log_probs, _ = token_log_probs(model, ids, bptt, batch_size=min(EVAL_BATCH_SIZE, max(1, ids.numel() // 2)))
    loss = -log_probs.double().mean().item()
    return loss, math.exp(loss)
