"""Train several model kinds on the same token dataset under the same budget; leaderboard."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from arlm_flows.params import CompareParams
from arlm_flows.pipeline import prepare_tokens, ray_options_from, train_config_from
from arlm_flows.runs import run_name_from
from arlm_flows.tasks import evaluate_task, home_of, train_task


def leaderboard_markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| rank | model | test bits/byte | perplexity | params | tokens/s | train s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(
            f"| {i} | {r['model']} | {r['bits_per_byte']:.3f} | {r['perplexity']:.1f} | "
            f"{int(r['num_params']):,} | {r.get('tokens_per_second') or 0:,.0f} | {r['wall_seconds']:.0f} |"
        )
    if rows:
        b = rows[0]
        lines.append(
            f"\nSame test bytes: gzip {b['gzip_bits_per_byte']:.3f}, bzip2 {b['bzip2_bits_per_byte']:.3f}, "
            f"xz {b['xz_bits_per_byte']:.3f}, unigram {b['unigram_bits_per_byte']:.3f} bits/byte."
        )
    return "\n".join(lines)


@flow(
    name="compare",
    flow_run_name=run_name_from("compare", "dataset_id|corpus"),
    description="Train several model kinds on the same token dataset under the same budget; leaderboard.",
)
def compare(params: CompareParams = CompareParams()) -> dict[str, Any]:
    if params.task == "translation":
        from arlm.errors import ConfigError

        raise ConfigError(
            "compare ranks language models by test bits/byte; train translation models with "
            "`arlm pipeline --task translation --model KIND` and compare their test BLEU (`arlm models list`)"
        )
    for spec in params.models:  # unknown kinds and bad configs fail before any work
        train_config_from(params.model_copy(update={"model": spec}))
    dataset_id = params.dataset_id
    if dataset_id is None:
        dataset_id = prepare_tokens(params, params.home)[2]["dataset_id"]
    rows = []
    for spec in params.models:
        p = params.model_copy(update={"model": spec})
        summary = train_task(
            train_config_from(p),
            dataset_id,
            ray_options_from(p),
            params.home,
            run_name=f"compare-{spec.replace('/', '-')}",
            resume=getattr(p, "resume", None),
        )
        metrics = evaluate_task(summary["model_dir"], dataset_id, params.home, mlflow_run_id=summary["mlflow_run_id"])
        rows.append(
            {
                **metrics,
                "model": spec,
                "wall_seconds": summary["wall_seconds"],
                "tokens_per_second": summary.get("tokens_per_second"),
                "mlflow_run_id": summary["mlflow_run_id"],
                "model_dir": summary["model_dir"],
            }
        )
    rows.sort(key=lambda r: r["bits_per_byte"])
    md = leaderboard_markdown(rows)
    create_markdown_artifact(md, key="leaderboard", description=f"Token dataset {dataset_id}")
    _log_leaderboard(home_of(params.home), dataset_id, rows, md)
    return {"dataset_id": dataset_id, "leaderboard": rows, "markdown": md}


def _log_leaderboard(home, dataset_id: str, rows: list[dict[str, Any]], md: str) -> None:
    from arlm.training.tracking import RunLogger, end_run, start_run

    run_id = start_run(
        home.mlflow_tracking_uri,
        run_name=f"compare-{dataset_id}",
        tags={"arlm.token_dataset_version": dataset_id, "arlm.kind": "leaderboard"},
        artifact_location=home.mlflow_artifact_root,
    )
    log = RunLogger(home.mlflow_tracking_uri, run_id)
    log.log_dict({"leaderboard": rows}, "leaderboard.json")
    log.client.log_text(run_id, md, "leaderboard.md")
    for r in rows:
        log.log_metrics({f"{r['model'].replace('/', '_')}.test_bits_per_byte": r["bits_per_byte"]})
    end_run(home.mlflow_tracking_uri, run_id)
