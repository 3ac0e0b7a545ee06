-- version 2: evaluations also name the model folder they scored and the MLflow run they were
-- logged to, so an evaluation recorded before registration still links to its training run.
ALTER TABLE evaluations ADD COLUMN model_dir VARCHAR;
ALTER TABLE evaluations ADD COLUMN mlflow_run_id VARCHAR;
