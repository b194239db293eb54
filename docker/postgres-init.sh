#!/bin/sh
# Create one role and one database per service: mlflow (tracking store), mlflow_auth (MLflow's
# users and permissions) and prefect. The postgres image runs this once, on an empty data
# volume, from /docker-entrypoint-initdb.d/ (it sources the file, so no `exit` and no `set -u`
# here: they would act on the image's own entrypoint).
#
# Passwords reach SQL through psql variables (:'name' quotes them as literals), never by
# pasting them into the SQL text, so any character is safe.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v mlflow_password="${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD is required}" \
    -v prefect_password="${PREFECT_DB_PASSWORD:?PREFECT_DB_PASSWORD is required}" <<'SQL'
CREATE ROLE mlflow LOGIN PASSWORD :'mlflow_password';
CREATE DATABASE mlflow OWNER mlflow;
CREATE DATABASE mlflow_auth OWNER mlflow;
CREATE ROLE prefect LOGIN PASSWORD :'prefect_password';
CREATE DATABASE prefect OWNER prefect;
-- Each role reaches only its own databases.
REVOKE ALL ON DATABASE mlflow, mlflow_auth, prefect FROM PUBLIC;
GRANT CONNECT ON DATABASE mlflow, mlflow_auth TO mlflow;
GRANT CONNECT ON DATABASE prefect TO prefect;
SQL
