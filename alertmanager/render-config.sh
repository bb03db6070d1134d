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
#   ALERT_WEBHOOK_URL     the webhook for pages and tickets (default: the stack's inbox)
#   INBOX_URL             the stack's inbox (oncall), e.g. http://oncall:9095: its
#                         /alerts takes pages and tickets when ALERT_WEBHOOK_URL is
#                         unset, its /heartbeat the Watchdog; one of the two is required
#   INBOX_PUBLIC_URL      where a person reads that inbox (only for the start-up log)
#   DEADMANS_SWITCH_URL   the Watchdog heartbeat's webhook (default: ALERT_WEBHOOK_URL,
#                         else the inbox's /heartbeat)
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

# scheme://host[:port] of a URL, without credentials or path: what the log may show.
origin() {
    printf '%s' "$1" | sed -E 's#^(https?://)([^/@]*@)?([^/?#]*).*#\1\3#'
}

webhook=$(value ALERT_WEBHOOK_URL)
inbox=$(value INBOX_URL)
inbox=${inbox%/}
if [ -n "$inbox" ]; then
    url INBOX_URL "$inbox"
fi
if [ -n "$webhook" ]; then
    url ALERT_WEBHOOK_URL "$webhook"
    where="the webhook at $(origin "$webhook") (ALERT_WEBHOOK_URL)"
elif [ -n "$inbox" ]; then
    webhook="$inbox/alerts"
    public=$(value INBOX_PUBLIC_URL)
    where="the stack's inbox (no ALERT_WEBHOOK_URL set; read them at ${public:-$inbox/},"
    where="$where on Grafana's Observability stack dashboard or in Loki {service_name=\"oncall\"})"
else
    fail "ALERT_WEBHOOK_URL is required when INBOX_URL (the stack's inbox) is not set"
fi
deadmans=$(value DEADMANS_SWITCH_URL)
if [ -n "$deadmans" ]; then
    heartbeat="$(origin "$deadmans") (DEADMANS_SWITCH_URL)"
elif [ -n "$(value ALERT_WEBHOOK_URL)" ] || [ -z "$inbox" ]; then
    deadmans=$webhook
    heartbeat="the same webhook"
else
    deadmans="$inbox/heartbeat"
    heartbeat="the stack's inbox, which counts it (set DEADMANS_SWITCH_URL for a real dead-man's switch)"
fi
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
also=""

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
    also="$also; Slack"
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
    also="$also; e-mail to $email_to"
fi

umask 022
sed -e "/^  - name: page\$/r $channels" -e "/^  - name: ticket\$/r $channels" \
    "$SRC/alertmanager.yml" | sed "s|_file: secrets/|_file: $OUT/secrets/|" >"$OUT/alertmanager.yml"
rm -f "$channels"
echo "render-config: pages and tickets go to: $where$also" >&2
echo "render-config: the Watchdog heartbeat goes to $heartbeat" >&2
