#!/bin/sh
# Render the Alertmanager configuration from the environment.
#
#   render-config.sh OUT_DIR
#
# Writes OUT_DIR/alertmanager.yml (this directory's alertmanager.yml plus the
# enabled channels), OUT_DIR/templates/ and OUT_DIR/secrets/ (mode 700), where
# every URL and password given below lands in a file read through a *_file
# field, so no secret is ever written into the YAML.
#
# Each variable NAME may instead be given as NAME_FILE, the path of a file
# holding the value (Docker/Kubernetes secrets).
#
#   ALERT_WEBHOOK_URL     required: the default webhook (pages and tickets)
#   DEADMANS_SWITCH_URL   the Watchdog heartbeat's webhook (default: ALERT_WEBHOOK_URL)
#   SLACK_WEBHOOK_URL     set to also send pages and tickets to Slack
#   SLACK_CHANNEL         optional channel override, e.g. #oncall
#   ALERT_EMAIL_TO        set to also send pages and tickets by e-mail; then
#   ALERT_EMAIL_FROM, SMTP_SMARTHOST (host:port) are required and
#   SMTP_AUTH_USERNAME, SMTP_AUTH_PASSWORD, SMTP_REQUIRE_TLS (default true) optional
set -eu

SRC=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: render-config.sh OUT_DIR}

fail() {
    echo "render-config: $*" >&2
    exit 2
}

# value NAME: $NAME, or the content of the file named by $NAME_FILE, or "".
value() {
    eval "direct=\${$1:-} file=\${$1_FILE:-}"
    if [ -n "$file" ]; then
        [ -r "$file" ] || fail "$1_FILE: cannot read $file"
        cat "$file"
    else
        printf '%s' "$direct"
    fi
}

url() { # NAME VALUE
    case $2 in
        http://?* | https://?*) ;;
        *) fail "$1 must be an http:// or https:// URL, got '$2'" ;;
    esac
}

# Values substituted into the YAML must not break its quoting or the sed below.
plain() { # NAME VALUE
    case $2 in
        *'"'* | *\\* | *'|'* | *'&'* | *"
"*) fail "$1 must not contain a double quote, backslash, '|', '&' or a newline" ;;
    esac
}

secret() { # FILE VALUE
    printf '%s' "$2" >"$OUT/secrets/$1"
}

webhook=$(value ALERT_WEBHOOK_URL)
[ -n "$webhook" ] || fail "ALERT_WEBHOOK_URL is required (the default webhook receiver)"
url ALERT_WEBHOOK_URL "$webhook"
deadmans=$(value DEADMANS_SWITCH_URL)
deadmans=${deadmans:-$webhook}
url DEADMANS_SWITCH_URL "$deadmans"

umask 077
mkdir -p "$OUT/templates" "$OUT/secrets"
# Alertmanager reads *_file paths relative to its working directory, not to the
# config file, so the rendered config names them absolutely.
OUT=$(cd "$OUT" && pwd)
plain OUT_DIR "$OUT"
chmod 700 "$OUT/secrets"
umask 022
cp "$SRC"/templates/*.tmpl "$OUT/templates/"
umask 077
secret webhook_url "$webhook"
secret deadmans_switch_url "$deadmans"
channels="$OUT/.channels.yml"
: >"$channels"

slack=$(value SLACK_WEBHOOK_URL)
if [ -n "$slack" ]; then
    url SLACK_WEBHOOK_URL "$slack"
    secret slack_webhook_url "$slack"
    channel=$(value SLACK_CHANNEL)
    plain SLACK_CHANNEL "$channel"
    if [ -n "$channel" ]; then
        sed "s|@SLACK_CHANNEL@|$channel|" "$SRC/channels/slack.yml" >>"$channels"
    else
        sed '/@SLACK_CHANNEL@/d' "$SRC/channels/slack.yml" >>"$channels"
    fi
    echo "render-config: Slack enabled for pages and tickets" >&2
fi

email_to=$(value ALERT_EMAIL_TO)
if [ -n "$email_to" ]; then
    email_from=$(value ALERT_EMAIL_FROM)
    smarthost=$(value SMTP_SMARTHOST)
    username=$(value SMTP_AUTH_USERNAME)
    password=$(value SMTP_AUTH_PASSWORD)
    tls=$(value SMTP_REQUIRE_TLS)
    tls=${tls:-true}
    [ -n "$email_from" ] || fail "ALERT_EMAIL_FROM is required when ALERT_EMAIL_TO is set"
    [ -n "$smarthost" ] || fail "SMTP_SMARTHOST (host:port) is required when ALERT_EMAIL_TO is set"
    case $smarthost in
        ?*:[0-9]*) ;;
        *) fail "SMTP_SMARTHOST must be host:port, got '$smarthost'" ;;
    esac
    case $tls in
        true | false) ;;
        *) fail "SMTP_REQUIRE_TLS must be true or false, got '$tls'" ;;
    esac
    for name in ALERT_EMAIL_TO ALERT_EMAIL_FROM SMTP_SMARTHOST SMTP_AUTH_USERNAME; do
        plain "$name" "$(value "$name")"
    done
    secret smtp_password "$password"
    sed -e "s|@ALERT_EMAIL_TO@|$email_to|" -e "s|@ALERT_EMAIL_FROM@|$email_from|" \
        -e "s|@SMTP_SMARTHOST@|$smarthost|" -e "s|@SMTP_REQUIRE_TLS@|$tls|" \
        -e "s|@SMTP_AUTH_USERNAME@|$username|" "$SRC/channels/email.yml" >"$channels.email"
    if [ -z "$username" ]; then
        sed -i '/auth_/d' "$channels.email"
    fi
    cat "$channels.email" >>"$channels"
    rm -f "$channels.email"
    echo "render-config: e-mail enabled for pages and tickets" >&2
fi

umask 022
sed -e "/^  - name: page\$/r $channels" -e "/^  - name: ticket\$/r $channels" \
    "$SRC/alertmanager.yml" | sed "s|_file: secrets/|_file: $OUT/secrets/|" >"$OUT/alertmanager.yml"
rm -f "$channels"
