"""Translation: parallel corpora, seq2seq decoding, and the pieces that train and score it.

    read_pairs(spec) -> Pairs                 TSV / JSONL / CSV / Parquet / Moses-style folders
    clean_pairs(pairs, PairCleaning()) -> (Pairs, Tally)
    split_pairs(pairs, val_fraction, test_fraction, seed) -> ({split: Pairs}, stats), whole documents per split
    translate_ids(model, sources, DecodeConfig(num_beams=4)) -> output ids
    build_bible_en_es(path) -> the ``bible-en-es`` corpus from Debian's SWORD modules
    Translator(model, tokenizer).translate(texts, DecodeConfig(num_beams=4)) -> strings
    ingest_pairs(PairIngestConfig(corpus=SPEC), home) -> a pair corpus version in the lake
    tokenize_pairs(cv, src_tokenizer, tgt_tokenizer, out_root) -> PairTokenDataset
    evaluate_pairs(translator, sources, references, num_beams=4) -> BLEU, chrF, ROUGE-L, loss, baselines

Training is ``arlm.training.train`` (the one loop) on a PairTokenDataset.

Exports are imported on first use (reading pairs does not import torch).
"""

from __future__ import annotations

from arlm.lazy import lazy_getattr

_EXPORTS = {
    "Pairs": "arlm.translation.pairs",
    "PairCleaning": "arlm.translation.pairs",
    "read_pairs": "arlm.translation.pairs",
    "clean_pairs": "arlm.translation.pairs",
    "split_pairs": "arlm.translation.pairs",
    "write_pairs_tsv": "arlm.translation.pairs",
    "DecodeConfig": "arlm.translation.decode",
    "translate_ids": "arlm.translation.decode",
    "greedy_decode": "arlm.translation.decode",
    "beam_search": "arlm.translation.decode",
    "make_batch": "arlm.models.seq2seq",
    "token_batches": "arlm.models.seq2seq",
    "build_bible_en_es": "arlm.translation.bible",
    "PairIngestConfig": "arlm.translation.lake",
    "ingest_pairs": "arlm.translation.lake",
    "tokenize_pairs": "arlm.translation.lake",
    "PairTokenDataset": "arlm.translation.dataset",
    "write_pair_dataset": "arlm.translation.dataset",
    "evaluate_pairs": "arlm.translation.evaluate",
    "Translator": "arlm.translation.translator",
}

__all__ = list(_EXPORTS)

__getattr__ = lazy_getattr(__name__, _EXPORTS)
