#!/bin/sh
# Write MLflow's basic-auth configuration from the environment, then run the command (mlflow
# server --app-name basic-auth ...).
#
# MLflow reads the file named by MLFLOW_AUTH_CONFIG_PATH. The template, basic_auth.ini.template
# beside this script, holds no secret; the admin password only ever exists in the environment and
# in this generated file, which is private to the container user (umask 077) and lives on the
# container's own filesystem, never on a volume.
set -eu

: "${MLFLOW_AUTH_CONFIG_PATH:?MLFLOW_AUTH_CONFIG_PATH must name the ini file to write}"
template="$(dirname "$0")/basic_auth.ini.template"

umask 077
mkdir -p "$(dirname "$MLFLOW_AUTH_CONFIG_PATH")"
# Python renders the template, not sed: a password may hold any character sed treats specially,
# and configparser needs each '%' doubled. A value with a line break is refused, as it would
# inject a line into the ini. A missing variable stops the start (KeyError names it).
python - "$template" "$MLFLOW_AUTH_CONFIG_PATH" <<'PY'
import os
import string
import sys

template, target = sys.argv[1], sys.argv[2]
names = string.Template(open(template, encoding="utf-8").read()).get_identifiers()
values = {}
for name in names:
    value = os.environ[name]
    if "\n" in value or "\r" in value:
        sys.exit(f"mlflow-auth: {name} holds a line break; refusing to write {target}")
    values[name] = value.replace("%", "%%")
with open(template, encoding="utf-8") as source:
    text = string.Template(source.read()).substitute(values)
with open(target, "w", encoding="utf-8") as out:
    out.write(text)
PY
exec "$@"
