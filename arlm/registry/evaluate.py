"""Evaluate a model URI: on a split of its own token dataset, or on any text file; one report.

What ``arlm evaluate`` prints and the ``evaluate`` flow publishes: metrics (loss, perplexity, bits
per byte, accuracy, and gzip/bzip2/xz of the same bytes), a few sample continuations, the report
logged to the model's MLflow run (``evaluations/<label>/evaluation.json|html`` and
``eval_<label>_*`` metrics) and a row in the catalog's ``evaluations``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def evaluate_model(model_uri: str, home: Any, *, split: str | None = None, text_file: str | Path | None = None,
                   samples: int = 3, batch_size: int = 16) -> dict[str, Any]:
    """The report of ``model_uri`` on ``text_file`` (tokenized by the model's own tokenizer) or on
    ``split`` (default "test") of its token dataset: ``{"title", "model", "source", "metrics",
    "samples"}``. Bad files and unknown URIs raise ``ArlmError`` before anything is written."""
    from arlm.errors import ConfigError
    from arlm.evaluation.text import evaluate_text, read_text_file, sample_continuations, sample_prompts
    from arlm.registry.resolve import load_generator

    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ConfigError(f"samples must be an integer >= 0, got {samples!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch size must be an integer >= 1, got {batch_size!r}")
    uri = home.mlflow_tracking_uri
    if text_file is not None:
        text = read_text_file(text_file)  # a bad file fails before the model loads
        gen = load_generator(model_uri, tracking_uri=uri)
        run_id = gen.resolved.run_id
        metrics = evaluate_text(gen, text, batch_size=batch_size)
        prompts = sample_prompts(text, samples)
        label, title = Path(text_file).name, f"{model_uri} on {text_file}"
        from arlm.versioning import sha256_file

        dataset_id = f"file:{sha256_file(text_file)[:16]}"
    else:
        from arlm.generation.text import TextGenerator
        from arlm.registry.resolve import resolve_model_for_eval
        from arlm.stages import evaluate_stage
        from arlm.tokenizers import TokenDataset

        split = split or "test"
        model_dir, dataset_id, run_id = resolve_model_for_eval(model_uri, home, uri)
        # logs the split's metrics to the run and records the catalog row
        metrics = evaluate_stage(str(model_dir), dataset_id, home, split=split, mlflow_run_id=run_id,
                                 progress=lambda msg: None)
        # the model folder just fetched, with the tokenizer its token dataset was made with
        tokenizer_id = TokenDataset.open(home.tokens / dataset_id).tokenizer_id
        gen = TextGenerator.from_dirs(model_dir, home.tokenizers / tokenizer_id)
        prompts = split_prompts(home, dataset_id, split, gen, samples)
        label, title = split, f"{model_uri} on {dataset_id}:{split}"
    report = {"title": title, "model": model_uri, "source": label, "metrics": metrics,
              "samples": sample_continuations(gen, prompts[:samples]) if samples > 0 else []}
    try:
        log_report(uri, run_id, report, label)
    except Exception as exc:  # the report is returned and printed anyway
        print(f"arlm: warning: evaluation not logged to MLflow ({exc})", file=sys.stderr)
    if text_file is not None:  # evaluate_stage recorded the split case already
        try:
            from arlm.catalog import Catalog

            Catalog(home.catalog_path).record_evaluation(model_uri=model_uri, token_dataset_id=dataset_id,
                                                         split=label, metrics=metrics, mlflow_run_id=run_id)
        except Exception as exc:
            print(f"arlm: warning: evaluation not recorded in the catalog ({exc})", file=sys.stderr)
    return report


def split_prompts(home: Any, dataset_id: str, split: str, gen: Any, n: int) -> list[str]:
    """``n`` prompts decoded from evenly spaced places of the split's tokens."""
    from arlm.tokenizers import TokenDataset

    tokens = TokenDataset.open(home.tokens / dataset_id).tokens(split)
    if len(tokens) < 16 or n <= 0:
        return []
    starts = [int(i) for i in range(0, len(tokens) - 16, max(1, (len(tokens) - 16) // n))][:n]
    prompts = [gen.decode([int(t) for t in tokens[s:s + 12] if int(t) != gen.eot_id]) for s in starts]
    return [p for p in prompts if p.strip()]


def log_report(tracking_uri: str, run_id: str | None, report: dict[str, Any], label: str) -> str | None:
    """JSON + HTML report and metrics into the model's MLflow run (none when the model has no run)."""
    if not run_id:
        return None
    from arlm.evaluation.report import report_html
    from arlm.registry.tracking import use_tracking

    client = use_tracking(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "evaluation.json").write_text(json.dumps(report, indent=2, default=str))
        (Path(tmp) / "evaluation.html").write_text(report_html(report))
        client.log_artifacts(run_id, tmp, artifact_path=f"evaluations/{label}")
    for k, v in report["metrics"].items():
        if isinstance(v, (int, float)):
            client.log_metric(run_id, f"eval_{label}_{k}", float(v))
    return run_id
