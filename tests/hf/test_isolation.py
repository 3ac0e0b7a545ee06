"""transformers and peft belong to the `pretrained` extra: the core, the training loop without LoRA,
the CLI's start-up and the served pyfunc model never import them."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
import arlm.models, arlm.training.loop, arlm.generation, arlm.tokenizers, arlm.hf
import arlm.registry.pyfunc_model
from arlm.cli.main import build_parser
build_parser()
from arlm.models import build_model
from arlm.hf import mapping  # the mapping itself needs only torch
m = build_model("gpt", 64, 16, n_layer=1, n_head=2, n_embd=16)
mapping.to_hf(m.state_dict(), m.config)
bad = sorted(n for n in sys.modules if n.split(".")[0] in ("transformers", "peft"))
print("IMPORTED", bad)
sys.exit(1 if bad else 0)
"""


def test_core_cli_and_served_model_do_not_import_transformers_or_peft():
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
