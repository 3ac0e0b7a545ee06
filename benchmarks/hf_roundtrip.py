"""Round trip of a GPT-2 124M-shaped checkpoint through arlm: time and peak memory of each step.

    .venv/bin/python benchmarks/hf_roundtrip.py            # GPT-2 small: 12 layers, 768 wide, 50,257 tokens
    .venv/bin/python benchmarks/hf_roundtrip.py --quick    # a 2-layer, 64-wide model (the test suite runs it)

Steps, each timed (wall and CPU time of this process) with the peak resident memory of the process
while it ran (sampled every 5 ms) and how far that peak rose above the memory held when the step
began:

1. build      ``GPT2LMHeadModel(GPT2Config(...))`` from a config, random weights (nothing downloaded)
2. save       ``save_pretrained`` (safetensors) + the tokenizer files
3. import     ``arlm.hf.gpt2_import.load_hf_model``: checks, reads the weights, maps Conv1D -> Linear
4. compare    logits of both models on a [4, 256] batch (max |difference|; must be < 1e-4 in float32)
5. export     ``arlm.hf.export.export_model_dir`` of the imported model (verify off: step 6 does it)
6. reload     ``AutoModelForCausalLM.from_pretrained`` of the export + logits against arlm's again

The tokenizer is a byte-level BPE trained here on stdlib sources and filled up with plain added
tokens to GPT-2's 50,257 entries (``<|endoftext|>`` last, id 50256, as in GPT-2): the size is what
the steps' cost depends on. Prints a Markdown table (benchmarks/RESULTS.md holds the figures).
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]  # benchmarks/tokenize.py shadows stdlib

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import psutil  # noqa: E402
import torch  # noqa: E402

EOT = "<|endoftext|>"


class Step:
    """Times a block and samples this process's resident memory while it runs."""

    def __init__(self, name: str, rows: list):
        self.name, self.rows = name, rows
        self.proc = psutil.Process()

    def _sample(self) -> None:
        while not self.done.wait(0.005):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self):
        self.start_rss = self.peak = self.proc.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.c0, self.t0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        wall, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
        self.rows.append(
            {
                "step": self.name,
                "wall_s": wall,
                "cpu_s": cpu,
                "peak_rss_gb": self.peak / 2**30,
                "rise_gb": (self.peak - self.start_rss) / 2**30,
            }
        )
        return False


def gpt2_sized_tokenizer(vocab_size: int):
    """Byte-level BPE trained on stdlib sources, padded with added tokens to ``vocab_size`` - 1,
    then ``<|endoftext|>`` as the last id (GPT-2's layout)."""
    import sysconfig

    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    lib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    size = 0
    for p in sorted(lib.glob("*.py")):
        t = p.read_text(encoding="utf-8", errors="replace")
        texts.append(t)
        size += len(t)
        if size > (4_000_000 if vocab_size > 10_000 else 300_000):
            break
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=min(vocab_size - 1, 30_000),
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    fill = vocab_size - 1 - tok.get_vocab_size()
    if fill > 0:
        tok.add_tokens([AddedToken(f"<|unused{i}|>", special=False) for i in range(fill)])
    tok.add_special_tokens([EOT])
    assert tok.get_vocab_size() == vocab_size and tok.token_to_id(EOT) == vocab_size - 1
    return tok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 2-layer, 64-wide model with a 2,000-token vocabulary")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON too")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from arlm.hf.export import export_model_dir
    from arlm.hf.gpt2_import import load_hf_model
    from arlm.models import save_model

    if args.quick:
        shape = dict(n_layer=2, n_head=4, n_embd=64, n_positions=256)
        vocab = 2000
    else:
        shape = dict(n_layer=12, n_head=12, n_embd=768, n_positions=1024)
        vocab = 50257
    rows: list[dict] = []
    tok = gpt2_sized_tokenizer(vocab)
    eot = tok.token_to_id(EOT)
    torch.manual_seed(0)
    ids = torch.randint(0, vocab, (4, 256))
    with tempfile.TemporaryDirectory(prefix="arlm-hf-bench-") as tmp:
        tmp = Path(tmp)
        with Step("build (transformers, from a config)", rows):
            hf = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, bos_token_id=eot, eos_token_id=eot, **shape)).eval()
        with Step("save_pretrained (safetensors)", rows):
            hf.save_pretrained(str(tmp / "hf"))
            PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOT, eos_token=EOT).save_pretrained(str(tmp / "hf"))
        with Step("import (arlm.hf, checks + mapping)", rows):
            model, arlm_tok, ckpt = load_hf_model(tmp / "hf")
        with Step("compare logits [4, 256]", rows):
            with torch.no_grad():
                import_diff = (model(ids)[0] - hf(ids).logits).abs().max().item()
        del hf
        with Step("export (arlm folder -> stock folder)", rows):
            save_model(model, tmp / "arlm")
            (tmp / "tok").mkdir()
            (tmp / "tok" / "tokenizer.json").write_text(ckpt.tokenizer_json, encoding="utf-8")
            export_model_dir(tmp / "arlm", tmp / "tok", tmp / "export", verify=False)
        with Step("reload (AutoModelForCausalLM) + logits", rows):
            back = AutoModelForCausalLM.from_pretrained(str(tmp / "export"), local_files_only=True).eval()
            with torch.no_grad():
                export_diff = (model(ids)[0] - back(ids).logits).abs().max().item()
        n_params = model.num_params()
    print(
        f"\nGPT-2 round trip: {shape['n_layer']} layers, {shape['n_embd']} wide, vocabulary {vocab:,}, "
        f"{n_params:,} parameters; torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    print(f"max |logit difference|: import {import_diff:.3g}, export+reload {export_diff:.3g}\n")
    print("| step | wall s | CPU s | peak RSS GiB | rise GiB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['step']} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_rss_gb']:.2f} | {r['rise_gb']:.2f} |")
    if args.json:
        print(
            json.dumps({"rows": rows, "import_diff": import_diff, "export_diff": export_diff, "num_params": n_params})
        )
    ok = import_diff < 1e-4 and export_diff < 1e-4
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
