"""Word-level LSTM language models (Zaremba et al. 2014, with tied input and output embeddings as in
Press & Wolf 2017 / Inan et al. 2017), the family of the paper's Table 6 LSTM (1 layer × 1500 units, tied,
dropout 0.65).

Names are `lstm-LAYERSxUNITS` (e.g. `lstm-2x200`, `lstm-2x650`, `lstm-1x1500`). The family registers itself in
`bannb.models.registry` as the one that reads text: `create_model(name, num_classes=vocab_size, dropout=…)`, a
language model's classes being its vocabulary; `list_models("image")` leaves it out.
"""
from __future__ import annotations

import re

import torch
from torch import nn

from bannb.errors import ConfigError
from bannb.models.registry import Family, register_family, register_model

NAME = re.compile(r"lstm-(\d+)x(\d+)")
NAMED = {  # names the book and the paper use; any lstm-LxH is accepted
    "lstm-1x1500": "the paper's Table 6 LSTM (52M parameters with PTB's 10k vocabulary; dropout 0.65)",
    "lstm-2x650": "Zaremba et al.'s medium model, tied",
    "lstm-2x200": "Zaremba et al.'s small model, tied; CPU-sized",
    "lstm-1x200": "CPU-sized",
    "lstm-1x128": "CPU-sized: the cpu profile's",
}

State = tuple[torch.Tensor, torch.Tensor]


class LSTMLanguageModel(nn.Module):
    """Embedding → dropout → LSTM layers (dropout between them) → dropout → linear decoder tied to the embedding.

    `forward(tokens, state)` takes (batch, time) token ids and the previous window's state (or None for zeros)
    and returns (batch, time, vocab) logits and the new state, so a truncated-BPTT loop carries the state across
    windows (detaching it) and a teacher can run alongside with its own state.
    """

    def __init__(self, vocab_size: int, layers: int, units: int, dropout: float = 0.5, tied: bool = True):
        super().__init__()
        self.vocab_size, self.layers, self.units = vocab_size, layers, units
        self.embedding = nn.Embedding(vocab_size, units)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(units, units, num_layers=layers, dropout=dropout if layers > 1 else 0.0, batch_first=True)
        self.decoder = nn.Linear(units, vocab_size)
        if tied:  # one matrix for both ends: fewer parameters and lower perplexity (Press & Wolf 2017)
            self.decoder.weight = self.embedding.weight
        self.reset_parameters()

    def reset_parameters(self):
        # Zaremba et al.: every weight uniform in ±0.1 (±0.05 for their larger models); the decoder bias at zero.
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def init_state(self, batch_size: int) -> State:
        weight = self.embedding.weight
        zeros = weight.new_zeros(self.layers, batch_size, self.units)
        return zeros, zeros.clone()

    def forward(self, tokens: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        if state is None:
            state = self.init_state(tokens.shape[0])
        hidden, state = self.lstm(self.dropout(self.embedding(tokens)), state)
        return self.decoder(self.dropout(hidden)), state


def detach_state(state: State) -> State:
    """The state without its graph: truncated BPTT stops gradients at the window boundary."""
    return tuple(s.detach() for s in state)


def parse_name(name: str) -> tuple[int, int]:
    match = NAME.fullmatch(name) if isinstance(name, str) else None
    if not match or int(match[1]) < 1 or int(match[2]) < 1:
        raise ConfigError(f"unknown language model {name!r}; names are lstm-LAYERSxUNITS with positive numbers, "
                          f"e.g. {', '.join(NAMED)}")
    return int(match[1]), int(match[2])


def create_language_model(name: str, vocab_size: int, dropout: float = 0.5) -> LSTMLanguageModel:
    """The named LSTM language model for a vocabulary of `vocab_size` tokens."""
    layers, units = parse_name(name)
    if not isinstance(vocab_size, int) or vocab_size < 2:
        raise ConfigError(f"vocab_size must be an integer ≥ 2, got {vocab_size!r}")
    if not 0 <= dropout < 1:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    return LSTMLanguageModel(vocab_size, layers, units, dropout)


def _language_model(layers: int, units: int, dropout: float = 0.5, in_channels: int | None = None,
                    num_classes: int = 2) -> LSTMLanguageModel:
    """The registry's constructor: a language model's classes are its vocabulary; it reads no image channels."""
    return create_language_model(f"lstm-{layers}x{units}", num_classes, dropout)


register_family(Family("lstm_lm", _language_model, ("dropout",), NAME, "lstm-LAYERSxUNITS",
                       lambda m: dict(layers=int(m[1]), units=int(m[2])), modality="text"))
for _name, _note in NAMED.items():
    register_model(_name, "lstm_lm", note=_note, **dict(zip(("layers", "units"), parse_name(_name))))
