#!/bin/sh
# Container entrypoint: render the configuration from the environment (see
# render-config.sh), then run Alertmanager on it with the given arguments.
#   RENDER_DIR  where the rendered config and secrets go (default /tmp/alertmanager)
set -eu
RENDER_DIR=${RENDER_DIR:-/tmp/alertmanager}
/bin/sh "$(dirname "$0")/render-config.sh" "$RENDER_DIR"
exec alertmanager --config.file="$RENDER_DIR/alertmanager.yml" "$@"
