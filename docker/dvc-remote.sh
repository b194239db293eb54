#!/bin/sh
# Point the project's DVC at the S3 remote on MinIO, then run the command (the Prefect worker).
#
# `--local` writes .dvc/config.local, which is not in git: the repository keeps its folder
# remote for laptops and the container adds its own. DVC's S3 client takes the credentials from
# AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment, so none is written to a file.
set -eu

: "${DVC_REMOTE_URL:?DVC_REMOTE_URL must name the S3 remote, e.g. s3://dvc/}"
: "${AWS_ENDPOINT_URL:?AWS_ENDPOINT_URL must name the S3 endpoint, e.g. http://minio:9000}"
dvc remote add --local --force --default storage "$DVC_REMOTE_URL"
dvc remote modify --local storage endpointurl "$AWS_ENDPOINT_URL"
exec "$@"
