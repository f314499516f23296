"""A word-level English corpus for the language-model experiment (the paper's Table 6 uses Penn Treebank,
which cannot be downloaded here).

The corpus is Debian's `fortunes` package: about 30,000 quotations, jokes, poems and literary excerpts
(≈ 458k words) in 44 plain-text files, each entry ended by a line holding only `%`. It is English running
text of mixed register: shorter "documents" than PTB's newswire articles and about half its size
(PTB: 887k training words, 10k vocabulary). The package's data has not changed in Debian for many years,
so the corpus is the same on every machine that installs it.

Preparation, in order (the same rules for any corpus in the `fortunes` format):

* documents: each `%`-separated entry of every file of the folder, files in name order (`ascii-art`,
  pictures rather than text, is left out); backspace overstriking is undone and control characters dropped;
  exact duplicate entries (after tokenisation) are kept once;
* tokens, PTB-style: lower case; clitics split off (`don't` → `do n't`, `it's` → `it 's`); every number
  becomes `N`; each punctuation mark is a token (a run of the same mark, such as `--` or `...`, is one
  token); each document ends with `<eos>` (its lines are hard-wrapped text, not sentences);
* split by document: documents are ordered by the sha256 of their tokens; the first 8% (rounded) are the
  test split, the next 8% the validation split, the rest the training split (PTB's ratio is about
  84/7.5/8.5). Within a split, documents keep the corpus order. A document never straddles two splits;
* vocabulary: from the training split only: `<unk>` (id 0), `<eos>` (id 1), then the most frequent
  tokens (ties in alphabetical order) up to `max_vocab` entries in all; every other token is `<unk>`.
"""
from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch

from bannb.data.arrays import data_roots
from bannb.errors import ConfigError, DataError, unknown_choice

UNK, EOS = "<unk>", "<eos>"
CORPORA = ("fortunes",)
FOLDER = "fortunes"
SYSTEM_FOLDER = Path("/usr/share/games/fortunes")  # Debian's `fortunes` package
EXCLUDED_FILES = frozenset({"ascii-art"})
SPLIT_FRACTIONS = {"test": 0.08, "valid": 0.08}  # the rest is the training split
SPLITS = ("train", "valid", "test")
# Penn Treebank as language models read it (Mikolov et al. 2011's ptb.{train,valid,test}.txt, the paper's Table 6
# data): tokens per split counting one <eos> per sentence, and its 10,000-word vocabulary (<unk> included).
PENN_TREEBANK = dict(train_tokens=929_589, valid_tokens=73_760, test_tokens=82_430, vocabulary=10_000)
FIX = ("install Debian's package with `apt-get install fortunes` (or `make data` as root), or point "
       "$BANNB_DATA at a folder holding a `fortunes/` folder of fortune files (entries separated by `%` lines)")

TOKEN = re.compile(r"""
      [^\W\d_]+(?=n't\b)            # "do" of "don't", "ca" of "can't" (as in the PTB)
    | n't\b
    | '(?:s|re|ve|ll|d|m)\b         # clitics: it 's, we 're, i 've, she 'll, he 'd, i 'm
    | [^\W\d_]+                     # a run of letters
    | \d+(?:[.,:/]\d+)*             # a number, with its inner separators: 3.14, 1,000, 10:30
    | ([^\w\s]|_)\1*                # a punctuation mark, or a run of the same mark: -- ...
""", re.VERBOSE)
OVERSTRIKE = re.compile(r".\x08")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def tokenize(text: str, numbers_to_n: bool = True) -> list[str]:
    """PTB-style word tokens of `text` (no `<eos>`): see the module's docstring."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    tokens = [match.group(0) for match in TOKEN.finditer(text)]
    if numbers_to_n:
        tokens = ["N" if token[0].isdigit() else token for token in tokens]
    return tokens


def read_fortune_file(path: Path) -> list[str]:
    """The entries of one fortune file, in order, with overstriking undone and control characters removed. A file
    that is not UTF-8 is refused (decoded with replacement characters, its bad bytes would become a word)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataError(f"cannot read corpus file {path} ({err}); {FIX}") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"corpus file {path} is not UTF-8 text: byte offset {err.start} holds "
                        f"{data[err.start:err.end].hex(' ')} ({err.reason}); convert the file to UTF-8 (e.g. "
                        f"`iconv -f latin1 -t utf-8`) or take it out of the folder") from err
    text = CONTROL.sub("", OVERSTRIKE.sub("", text))
    entries = re.split(r"^%[ \t]*$", text, flags=re.MULTILINE)
    return [entry.strip() for entry in entries if entry.strip()]


def corpus_files(folder: Path) -> list[Path]:
    """The fortune files of a folder: plain names (no `.dat` indexes, no `.u8` links), sorted."""
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and not path.is_symlink() and "." not in path.name
                  and path.name not in EXCLUDED_FILES)


def candidate_folders(root=None) -> list[Path]:
    return [r / FOLDER for r in data_roots(root)] + [SYSTEM_FOLDER]


def find_folder(root=None) -> Path:
    """The first candidate folder that exists; it must hold at least one fortune file (a folder without any is
    refused rather than passed over, or the corpus would silently come from the next candidate)."""
    for folder in candidate_folders(root):
        if folder.is_dir():
            if not corpus_files(folder):
                raise DataError(f"the corpus folder {folder} holds no fortune file (a plain file without a dot in its "
                                f"name, `ascii-art` aside), and the corpus would come from elsewhere; put the fortune "
                                f"files into it, or remove it to use {_next_candidate(folder, root)}")
            return folder
    searched = ", ".join(str(f) for f in candidate_folders(root))
    raise DataError(f"the fortunes corpus was not found (searched {searched}); {FIX}")


def _next_candidate(folder: Path, root=None) -> str:
    """The folders searched after `folder`, for a message."""
    later = candidate_folders(root)[candidate_folders(root).index(folder) + 1:]
    return " or ".join(str(f) for f in later) if later else "another corpus ($BANNB_DATA)"


def corpus_sha256(folder: Path) -> str:
    """The sha256 of the corpus files of `folder` (`corpus_files`, in name order), each as its name, its length
    and its bytes: another file, another name or another order (which orders the documents) gives another
    digest. Cached while the files keep their names, sizes and modification times."""
    return _files_sha256(tuple((str(path), path.stat().st_size, path.stat().st_mtime_ns)
                               for path in corpus_files(folder)))


@lru_cache(maxsize=16)
def _files_sha256(files: tuple) -> str:
    digest = hashlib.sha256()
    for path, _, _ in files:
        data = Path(path).read_bytes()
        digest.update(f"{Path(path).name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def split_documents(documents: list[list[str]]) -> dict[str, list[int]]:
    """Indices of the documents in each split: by the order of their tokens' sha256 (see the module docstring)."""
    digests = [hashlib.sha256("\x00".join(tokens).encode()).hexdigest() for tokens in documents]
    by_hash = sorted(range(len(documents)), key=digests.__getitem__)
    count = len(documents)
    test_count = round(count * SPLIT_FRACTIONS["test"])
    valid_count = round(count * SPLIT_FRACTIONS["valid"])
    if test_count == 0 or valid_count == 0:
        raise DataError(f"the corpus has {count} distinct documents, too few for a train/valid/test split "
                        f"(it needs at least 7); {FIX}")
    assigned = {"test": by_hash[:test_count], "valid": by_hash[test_count:test_count + valid_count],
                "train": by_hash[test_count + valid_count:]}
    return {split: sorted(indices) for split, indices in assigned.items()}


def build_vocabulary(documents: list[list[str]], max_vocab: int) -> list[str]:
    """`<unk>`, `<eos>`, then the most frequent tokens of `documents` (ties alphabetical), `max_vocab` in all."""
    counts = Counter(token for tokens in documents for token in tokens)
    counts.pop(UNK, None), counts.pop(EOS, None)
    ranked = sorted(counts, key=lambda token: (-counts[token], token))
    return [UNK, EOS] + ranked[:max_vocab - 2]


@dataclass
class TextCorpus:
    """A tokenised corpus split by document, with its vocabulary. `ids(split)` is the split's token stream."""

    name: str
    source: str
    documents: dict[str, list[list[str]]]  # split -> its documents' tokens, each ending in <eos>
    vocabulary: list[str]
    max_vocab: int
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self):
        self.index = {token: i for i, token in enumerate(self.vocabulary)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def ids(self, split: str) -> torch.Tensor:
        """The split's documents, concatenated, as token ids (int64); unknown words are `<unk>` (0)."""
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; valid splits are: {', '.join(SPLITS)}")
        unk = self.index[UNK]
        return torch.tensor([self.index.get(token, unk) for tokens in self.documents[split] for token in tokens],
                            dtype=torch.int64)

    def decode(self, ids) -> list[str]:
        return [self.vocabulary[i] for i in ids]

    def describe(self) -> dict:
        """Sizes: words (tokens other than `<eos>`) in all, vocabulary, and per split tokens (with `<eos>`),
        documents and the share of tokens outside the vocabulary."""
        splits = {}
        for split in SPLITS:
            tokens = [token for document in self.documents[split] for token in document]
            unknown = sum(token not in self.index for token in tokens)
            splits[split] = dict(tokens=len(tokens), documents=len(self.documents[split]),
                                 unk_rate=round(unknown / max(len(tokens), 1), 4))
        words = sum(len(document) - 1 for documents in self.documents.values() for document in documents)
        return dict(name=self.name, source=self.source, words=words, vocabulary=self.vocab_size,
                    max_vocab=self.max_vocab, splits=splits)

    def summary(self) -> str:
        d = self.describe()
        parts = ", ".join(f"{split} {s['tokens']:,} tokens in {s['documents']:,} documents "
                          f"({100 * s['unk_rate']:.1f}% <unk>)" for split, s in d["splits"].items())
        return (f"{d['name']}: {d['words']:,} words, vocabulary {d['vocabulary']:,} (cap {d['max_vocab']:,}); "
                f"{parts}; from {d['source']}")


def check_corpus(name: str) -> str:
    if name not in CORPORA:
        raise unknown_choice("corpus", name, CORPORA, plural="corpora")
    return name


def load_corpus(name: str = "fortunes", root=None, max_vocab: int = 10_000) -> TextCorpus:
    """The corpus, tokenised, split and with its vocabulary (read once per process, folder and `max_vocab`)."""
    check_corpus(name)
    if not isinstance(max_vocab, int) or isinstance(max_vocab, bool) or max_vocab < 3:
        raise ConfigError(f"max_vocab must be an integer of at least 3 (<unk>, <eos> and one word), got {max_vocab!r}")
    return _load_folder(name, find_folder(root), max_vocab)


@lru_cache(maxsize=4)
def _load_folder(name: str, folder: Path, max_vocab: int) -> TextCorpus:
    documents, seen = [], set()
    for path in corpus_files(folder):
        for entry in read_fortune_file(path):
            tokens = tokenize(entry)
            key = tuple(tokens)
            if tokens and key not in seen:
                seen.add(key)
                documents.append(tokens + [EOS])
    if not documents:
        raise DataError(f"the corpus folder {folder} holds no text (its files are empty); {FIX}")
    splits = split_documents(documents)
    by_split = {split: [documents[i] for i in splits[split]] for split in SPLITS}
    return TextCorpus(name, str(folder), by_split, build_vocabulary(by_split["train"], max_vocab), max_vocab)
