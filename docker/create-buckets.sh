#!/bin/sh
# One-shot job (minio/mc image): create the buckets and the applications' own MinIO user.
#
# - bucket `mlflow`: MLflow's artifacts (mlflow server --artifacts-destination s3://mlflow/);
# - bucket `dvc`: the DVC remote of the worker (s3://dvc/);
# - user AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY with the readwrite policy: the services
#   never hold MinIO's root credentials.
# Every step is idempotent, so the job succeeds again on each `docker compose up`.
set -eu

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing local/mlflow
mc mb --ignore-existing local/dvc
mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"
# `attach` fails when the policy is already attached (a second run): accept that case only.
mc admin policy attach local readwrite --user "$AWS_ACCESS_KEY_ID" ||
    mc admin user info local "$AWS_ACCESS_KEY_ID" | grep -q readwrite
echo "buckets mlflow and dvc ready; user $AWS_ACCESS_KEY_ID has readwrite"
