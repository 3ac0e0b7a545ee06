"""The local stack and deployments: Prefect server + worker, MLflow server, Ray head on loopback.

Nothing here is imported by the pipeline itself; ``arlm infra`` and ``arlm deploy`` (and the
``infra/local/*.sh`` scripts) drive it. Processes are started in their own session, their pids are
recorded in ``<home>/infra/stack.json``, and ``down`` stops exactly those (and their descendants).
"""
