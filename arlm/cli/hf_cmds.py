"""``arlm import-hf``, ``arlm export-hf`` and ``arlm finetune``: pretrained models in and out.

    arlm import-hf PATH|hf:NAME --name NAME     a Hugging Face GPT-2 folder -> version 1 of NAME
    arlm export-hf URI OUT_DIR [--force]        a registered GPT -> a folder stock transformers loads
    arlm finetune --from URI --corpus SPEC --name NAME [--lora-rank R]
                                                the ``finetune`` flow: full or LoRA fine-tuning

Import and export run in this process (``arlm.hf.stages``); fine-tuning runs the Prefect flow
``finetune`` like ``arlm train`` runs ``train``. Bad input (no config.json, an architecture arlm
cannot hold, a truncated weights file, a vocabulary/tokenizer mismatch, a LoRA rank <= 0, a non-empty
OUT_DIR) fails with one line before anything is written.
"""

from __future__ import annotations

import argparse
import json


def add_parsers(sub) -> None:
    i = sub.add_parser(
        "import-hf",
        help="register a Hugging Face GPT-2 checkpoint as version 1 of a model",
        description="Read a local Hugging Face folder (config.json, model.safetensors, tokenizer "
        "files) of a GPT-2, or hf:NAME from the local Hub cache (nothing is "
        "downloaded), into arlm's GPT; register it with its tokenizer as version 1 "
        "of NAME (alias champion) and record its origin in the catalog.",
    )
    i.add_argument("path", metavar="PATH", help="a Hugging Face model folder, or hf:NAME[@REVISION]")
    i.add_argument("--name", required=True, help="registered model name (must not exist yet)")
    i.add_argument("--json", action="store_true", help="print the result as JSON")
    i.set_defaults(func=run_import)

    e = sub.add_parser(
        "export-hf",
        help="write a registered GPT as a folder stock transformers loads",
        description="Write model URI as a Hugging Face folder: AutoModelForCausalLM and "
        "AutoTokenizer load it without trust_remote_code (learned positions: "
        "GPT2LMHeadModel; rotary: GPTNeoXForCausalLM), safetensors only. The "
        "folder is also logged as artifact hf_export/ of the model's MLflow run.",
    )
    e.add_argument("uri", metavar="URI", help="models:/NAME@ALIAS or models:/NAME/VERSION")
    e.add_argument("out_dir", metavar="OUT_DIR", help="folder to write (must be empty unless --force)")
    e.add_argument("--force", action="store_true", help="replace the contents of a non-empty OUT_DIR")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=run_export)

    from arlm.cli.pipeline_cmds import ALIASES
    from arlm.options import add_options
    from arlm_flows.finetune_params import FinetuneParams
    from arlm_flows.params import option_sections

    f = sub.add_parser(
        "finetune",
        help="fine-tune a registered model or a GPT-2 checkpoint (full or LoRA)",
        description="Continue training --from (models:/NAME@ALIAS, models:/NAME/VERSION, a Hugging "
        "Face folder or hf:NAME) on --corpus, tokenized with the base's tokenizer, "
        "through Ray Train (the Prefect flow `finetune`). --lora-rank trains LoRA "
        "adapters only (peft), merged on registration. The fine-tuned version must "
        "beat its base on the new test split to become champion.",
    )
    add_options(
        f,
        FinetuneParams,
        exclude=("home", "model", "init_from"),
        aliases={**ALIASES, "from_uri": ["--from"]},
        groups=option_sections(),
    )
    f.add_argument("--json", action="store_true", help="print the result as JSON")
    f.set_defaults(func=run_finetune)


def _home(args: argparse.Namespace):
    from arlm.home import get_home

    return get_home(args.home)


def run_import(args: argparse.Namespace) -> int:
    from arlm.hf.stages import import_stage

    out = import_stage(args.path, args.name, _home(args), progress=None if not args.json else (lambda m: None))
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(
            f"registered {out['uri']} (@champion): {out['architecture']}, {out['num_params']:,} parameters, "
            f"tokenizer {out['tokenizer_id']}"
        )
    return 0


def run_export(args: argparse.Namespace) -> int:
    from arlm.hf.stages import export_stage

    out = export_stage(
        args.uri, args.out_dir, _home(args), force=args.force, progress=None if not args.json else (lambda m: None)
    )
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print(f"wrote {out['out_dir']} ({out['architecture']}: {', '.join(out['files'])})")
        if out.get("artifact_uri"):
            print(f"logged as {out['artifact_uri']}")
    return 0


def preflight_finetune(params) -> None:
    """A bad base folder, corpus or setting fails in a second with one line, before Prefect and Ray
    start and before anything is written (a registered base is checked by the flow's first task)."""
    from arlm.catalog import Catalog
    from arlm.cli.pipeline_cmds import preflight_corpus

    if params.lora_rank is not None:
        from arlm.hf.adapters import check_rank

        check_rank(params.lora_rank, params.lora_alpha)
    if not params.from_uri.startswith(("models:/", "runs:/")):
        from arlm.hf.gpt2_import import inspect_hf_checkpoint

        inspect_hf_checkpoint(params.from_uri)
    Catalog.check_not_lost(_home(params).catalog_path)
    preflight_corpus(params)


def run_finetune(args: argparse.Namespace) -> int:
    from arlm.cli.pipeline_cmds import params_from_args, start_flow_command
    from arlm_flows.finetune_params import FinetuneParams

    params = params_from_args(FinetuneParams, args)
    preflight_finetune(params)
    start_flow_command(args)
    from arlm_flows.finetune import finetune

    out = finetune(params)
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    reg, m, b = out["registration"], out["metrics"], out["base"]["metrics"]
    print()
    print(
        f"fine-tuned:      {out['base']['uri']} -> {reg['uri']} ({out['method']}: {out['trainable_params']:,} of "
        f"{out['total_params']:,} parameters trained), {out['train'].get('steps')} steps"
    )
    print(
        f"test bits/byte:  {m['bits_per_byte']:.4f}   base on the same test text: {b['bits_per_byte']:.4f}   "
        f"unigram {m['unigram_bits_per_byte']:.4f}"
    )
    print(
        f"registered:      version {reg['version']}, "
        f"{'champion' if reg['promoted'] else 'challenger only (see `arlm models show ' + reg['name'] + '`)'}"
    )
    return 0
