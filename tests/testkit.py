"""Small real corpora and token datasets for integration tests (built by the real stages)."""

from __future__ import annotations

import random
from pathlib import Path


def write_prose_corpus(folder: Path, n_docs: int = 40, sentences: int = 120, seed: int = 1) -> Path:
    """A few hundred KB of simple English: enough for a tokenizer and a visibly falling loss."""
    rng = random.Random(seed)
    subjects = ["the model", "a tokenizer", "the catalog", "each worker", "the pipeline", "a corpus"]
    verbs = ["reads", "writes", "counts", "predicts", "records", "splits", "trains on"]
    objects = ["the next token", "a parquet file", "every document", "the test split", "its checkpoint"]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        sents = [
            f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)}." for _ in range(sentences)
        ]
        (folder / f"doc{i:03d}.txt").write_text(" ".join(sents) + "\n", encoding="utf-8")
    return folder


def build_token_dataset(home, corpus: Path, vocab_size: int = 512) -> str:
    """ingest -> tokenizer -> tokenize through the real stages; returns the dataset id."""
    from arlm import stages
    from arlm.data import IngestConfig
    from arlm.tokenizers import TokenizerConfig

    quiet = lambda m: None  # noqa: E731
    cv = stages.ingest_stage(IngestConfig(corpus=str(corpus)), home, progress=quiet)
    tok = stages.tokenizer_stage(
        TokenizerConfig(kind="bpe", vocab_size=vocab_size), cv["corpus_id"], home, progress=quiet
    )
    return stages.tokenize_stage(cv["corpus_id"], tok["tokenizer_id"], home, progress=quiet)["dataset_id"]
