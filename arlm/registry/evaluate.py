"""The registry's side of evaluating a registered model (``arlm.stages.evaluate_model`` drives it):
prompts for sample continuations taken from a token dataset split, and the report logged to the
model's MLflow run (``evaluations/<label>/evaluation.json|html`` and ``eval_<label>_*`` metrics).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any


def split_prompts(home: Any, dataset_id: str, split: str, gen: Any, n: int) -> list[str]:
    """``n`` prompts decoded from evenly spaced places of the split's tokens."""
    from arlm.tokenizers import TokenDataset

    tokens = TokenDataset.open(home.tokens / dataset_id).tokens(split)
    if len(tokens) < 16 or n <= 0:
        return []
    starts = [int(i) for i in range(0, len(tokens) - 16, max(1, (len(tokens) - 16) // n))][:n]
    prompts = [gen.decode([int(t) for t in tokens[s : s + 12] if int(t) != gen.eot_id]) for s in starts]
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
