#!/bin/sh
# Refuse to start a container whose secrets are missing or still the example value, then run
# the container's command.
#
#   MLOPS_REQUIRED_ENV="NAME1 NAME2 ..." sh require-env.sh COMMAND [ARG...]
#
# Why here and not only in docker-compose.yml: compose's ${VAR:?} catches a variable that is
# unset or empty, but not one that still holds the placeholder copied from .env.example, and it
# does nothing for `docker run` or a process started outside compose. This script catches both.
# It names every bad variable at once (fixing them one restart at a time is slow), never prints
# a value, and exits 78 (EX_CONFIG in sysexits.h): a configuration error, not a crash.
# POSIX sh only: it runs in our image (dash) and in the postgres and minio images.
set -eu

# The placeholder every secret has in .env.example; tests/unit/test_compose.py checks both agree.
PLACEHOLDER="change-me"

# First every name: they reach eval below, so anything but a variable name stops here.
for name in ${MLOPS_REQUIRED_ENV:-}; do
    case "$name" in
        [0-9]* | *[!A-Za-z0-9_]*)
            echo "require-env: '$name' in MLOPS_REQUIRED_ENV is not a variable name" >&2
            exit 64
            ;;
    esac
done

bad=0
for name in ${MLOPS_REQUIRED_ENV:-}; do
    # Checked above, so eval only ever sees ${NAME-}.
    eval "value=\${$name-}"
    if [ -z "$value" ]; then
        echo "refusing to start: $name is not set (copy .env.example to .env and set it)" >&2
        bad=1
    else
        # Containment, not equality: a connection URL or a user:password auth string built
        # from a placeholder holds it too.
        case "$value" in
            *"$PLACEHOLDER"*)
                echo "refusing to start: $name still holds the example value '$PLACEHOLDER' from .env.example; set a real secret in .env" >&2
                bad=1
                ;;
        esac
    fi
done
unset value
if [ "$bad" -ne 0 ]; then
    exit 78
fi
if [ "$#" -eq 0 ]; then
    echo "require-env: no command to run" >&2
    exit 64
fi
exec "$@"
