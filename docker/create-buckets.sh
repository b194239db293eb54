#!/bin/sh
# One-shot job (minio/mc image): create the buckets and one MinIO user per bucket.
#
# - bucket `mlflow`: MLflow's artifacts (mlflow server --artifacts-destination s3://mlflow/),
#   reached only by the MLflow server, as MINIO_MLFLOW_ACCESS_KEY;
# - bucket `dvc`: the DVC remote of the flows (s3://dvc/), reached only by the worker and the
#   deployments job, as MINIO_DVC_ACCESS_KEY.
# Each user gets the policy of its own bucket (s3-policy-<bucket>.json beside this script: list
# the bucket, read, write and delete its objects) and nothing else (security review #6): a
# stolen DVC key cannot touch the models, and the MLflow server's key cannot touch the data.
# The services never hold MinIO's root credentials. Every step is idempotent, so the job
# succeeds again on each `docker compose up`.
set -eu

here="$(dirname "$0")"
if [ "$MINIO_MLFLOW_ACCESS_KEY" = "$MINIO_DVC_ACCESS_KEY" ]; then
    echo "create-buckets: MINIO_MLFLOW_ACCESS_KEY and MINIO_DVC_ACCESS_KEY must be two users" >&2
    exit 78
fi

mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
for bucket in mlflow dvc; do
    case "$bucket" in
        mlflow) user="$MINIO_MLFLOW_ACCESS_KEY" secret="$MINIO_MLFLOW_SECRET_KEY" ;;
        dvc) user="$MINIO_DVC_ACCESS_KEY" secret="$MINIO_DVC_SECRET_KEY" ;;
    esac
    mc mb --ignore-existing "local/$bucket"
    # `policy create` replaces a policy of the same name, so an edited file takes effect.
    mc admin policy create local "bucket-$bucket" "$here/s3-policy-$bucket.json"
    mc admin user add local "$user" "$secret"
    # A user kept from an older stack (one shared user with `readwrite`) loses that policy.
    mc admin policy detach local readwrite --user "$user" >/dev/null 2>&1 || true
    # `attach` fails when the policy is already attached (a second run): accept that case only.
    mc admin policy attach local "bucket-$bucket" --user "$user" ||
        mc admin user info local "$user" | grep -q "bucket-$bucket"
    echo "bucket $bucket ready; user $user has policy bucket-$bucket"
done
