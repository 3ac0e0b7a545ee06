-- One database per server: Prefect and MLflow both keep an `alembic_version` table.
CREATE DATABASE prefect;
CREATE DATABASE mlflow;
