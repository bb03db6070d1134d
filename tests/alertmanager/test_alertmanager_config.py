"""The committed Alertmanager routing, checked with amtool and the real binary."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.alertmanager.running import ALERTMANAGER_DIR, render, running_alertmanager
from tests.alertmanager.smtp_double import SmtpDouble
from tests.integration.background import background
from tests.integration.transforms import fast_alertmanager_timings
from tests.support import free_port, require_binary, wait_http
from tests.support.webhook_receiver import WebhookReceiver

COMMITTED = ALERTMANAGER_DIR / "alertmanager.yml"
WEBHOOK = "http://127.0.0.1:9/alerts"
ALL_CHANNELS = {
    "ALERT_WEBHOOK_URL": WEBHOOK,
    "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T0/B0/secret-token",
    "SLACK_CHANNEL": "#oncall",
    "ALERT_EMAIL_TO": "oncall@example.com",
    "ALERT_EMAIL_FROM": "alertmanager@example.com",
    "SMTP_SMARTHOST": "smtp.example.com:587",
    "SMTP_AUTH_USERNAME": "alertmanager",
    "SMTP_AUTH_PASSWORD": "smtp-secret",
}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = require_binary("amtool")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=False)


def receivers_of(config: Path) -> dict[str, dict]:
    return {r["name"]: r for r in yaml.safe_load(config.read_text())["receivers"]}


def test_committed_config_passes_amtool_check_config() -> None:
    result = amtool("check-config", str(COMMITTED))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 inhibit rules" in result.stdout


def test_config_rendered_with_every_channel_passes_amtool(tmp_path: Path) -> None:
    result = render(tmp_path, ALL_CHANNELS)
    assert result.returncode == 0, result.stderr
    check = amtool("check-config", str(tmp_path / "alertmanager.yml"))
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=ServiceDown", "service_name=svc"], "page"),
        (["severity=warning", "alertname=HighErrorRate", "service_name=svc"], "ticket"),
        (["severity=info", "alertname=SomethingInformational", "service_name=svc"], "null"),
        (["severity=info", "alertname=Watchdog", "service_name=prometheus"], "deadmans-switch"),
        # An alert without a known severity still reaches someone.
        (["alertname=Unlabelled", "service_name=svc"], "ticket"),
    ],
)
def test_route_for_each_severity(labels: list[str], receiver: str) -> None:
    result = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={COMMITTED}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_groups_by_alertname_and_service() -> None:
    route = yaml.safe_load(COMMITTED.read_text())["route"]
    assert route["group_by"] == ["alertname", "service_name"]
    assert not any("group_by" in child for child in route["routes"])


def test_default_render_is_webhook_only_with_url_in_a_secret_file(tmp_path: Path) -> None:
    result = render(tmp_path, {"ALERT_WEBHOOK_URL": WEBHOOK})
    assert result.returncode == 0, result.stderr
    rendered = tmp_path / "alertmanager.yml"
    receivers = receivers_of(rendered)
    committed = receivers_of(COMMITTED)
    assert receivers.keys() == committed.keys()
    for name in ("page", "ticket"):
        assert set(receivers[name]) == {"name", "webhook_configs"}
        url_file = Path(receivers[name]["webhook_configs"][0]["url_file"])
        assert url_file.is_absolute()
        assert url_file.read_text() == WEBHOOK
    assert WEBHOOK not in rendered.read_text()
    # The Watchdog goes to the same webhook unless DEADMANS_SWITCH_URL says otherwise.
    dms = Path(receivers["deadmans-switch"]["webhook_configs"][0]["url_file"])
    assert dms.read_text() == WEBHOOK
    assert (tmp_path / "secrets").stat().st_mode & 0o077 == 0


def test_without_a_webhook_pages_and_tickets_go_to_the_inbox(tmp_path: Path) -> None:
    env = {"INBOX_URL": "http://oncall:9095/", "INBOX_PUBLIC_URL": "http://127.0.0.1:9095/"}
    result = render(tmp_path, env)
    assert result.returncode == 0, result.stderr
    receivers = receivers_of(tmp_path / "alertmanager.yml")
    for name in ("page", "ticket"):
        url_file = Path(receivers[name]["webhook_configs"][0]["url_file"])
        assert url_file.read_text() == "http://oncall:9095/alerts"
    dms = Path(receivers["deadmans-switch"]["webhook_configs"][0]["url_file"])
    assert dms.read_text() == "http://oncall:9095/heartbeat"
    # The start-up log says where alerts go and where a person reads them.
    assert (
        "render-config: pages and tickets go to: the stack's inbox (no ALERT_WEBHOOK_URL set; "
        "read them at http://127.0.0.1:9095/" in result.stderr
    )
    assert "the Watchdog heartbeat goes to the stack's inbox" in result.stderr


def test_a_webhook_wins_over_the_inbox_and_the_log_shows_no_secret(tmp_path: Path) -> None:
    webhook = "https://bot:s3cret@hooks.example.com/T0/B0/token-in-path?key=k3y"
    result = render(tmp_path, {"ALERT_WEBHOOK_URL": webhook, "INBOX_URL": "http://oncall:9095"})
    assert result.returncode == 0, result.stderr
    receivers = receivers_of(tmp_path / "alertmanager.yml")
    assert Path(receivers["page"]["webhook_configs"][0]["url_file"]).read_text() == webhook
    # As before the inbox existed: the Watchdog goes to the same webhook.
    dms = Path(receivers["deadmans-switch"]["webhook_configs"][0]["url_file"])
    assert dms.read_text() == webhook
    assert "go to: the webhook at https://hooks.example.com (ALERT_WEBHOOK_URL)" in result.stderr
    for secret in ("s3cret", "token-in-path", "k3y", "bot"):
        assert secret not in result.stderr


def test_the_log_lists_every_channel(tmp_path: Path) -> None:
    result = render(tmp_path, {**ALL_CHANNELS, "ALERT_WEBHOOK_URL": "", "INBOX_URL": "http://o:1"})
    assert result.returncode == 0, result.stderr
    assert "; Slack; e-mail to oncall@example.com" in result.stderr
    assert "secret-token" not in result.stderr
    assert "smtp-secret" not in result.stderr


def test_slack_and_email_are_enabled_by_env_without_secrets_in_the_yaml(tmp_path: Path) -> None:
    result = render(tmp_path, ALL_CHANNELS)
    assert result.returncode == 0, result.stderr
    rendered = (tmp_path / "alertmanager.yml").read_text()
    receivers = receivers_of(tmp_path / "alertmanager.yml")
    for name in ("page", "ticket"):
        slack = receivers[name]["slack_configs"][0]
        assert Path(slack["api_url_file"]).read_text() == ALL_CHANNELS["SLACK_WEBHOOK_URL"]
        assert slack["channel"] == "#oncall"
        email = receivers[name]["email_configs"][0]
        assert email["to"] == "oncall@example.com"
        assert email["smarthost"] == "smtp.example.com:587"
        assert Path(email["auth_password_file"]).read_text() == "smtp-secret"
    assert "secret-token" not in rendered
    assert "smtp-secret" not in rendered
    assert "slack_configs" not in str(receivers["deadmans-switch"])


def test_values_can_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "slack-url"
    secret.write_text("https://hooks.slack.invalid/from-file")
    env = {"ALERT_WEBHOOK_URL": WEBHOOK, "SLACK_WEBHOOK_URL_FILE": str(secret)}
    result = render(tmp_path / "out", env)
    assert result.returncode == 0, result.stderr
    slack = receivers_of(tmp_path / "out" / "alertmanager.yml")["page"]["slack_configs"][0]
    assert Path(slack["api_url_file"]).read_text() == "https://hooks.slack.invalid/from-file"
    assert "channel" not in slack


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "ALERT_WEBHOOK_URL is required when INBOX_URL (the stack's inbox) is not set"),
        ({"INBOX_URL": "oncall:9095"}, "INBOX_URL must be an http:// or https:// URL"),
        ({"ALERT_WEBHOOK_URL": "ftp://x"}, "ALERT_WEBHOOK_URL must be an http:// or https:// URL"),
        (
            {"ALERT_WEBHOOK_URL": WEBHOOK, "SLACK_WEBHOOK_URL": "hooks.slack.com/x"},
            "SLACK_WEBHOOK_URL must be an http:// or https:// URL",
        ),
        (
            {"ALERT_WEBHOOK_URL": WEBHOOK, "ALERT_EMAIL_TO": "a@example.com"},
            "ALERT_EMAIL_FROM is required",
        ),
        (
            {
                "ALERT_WEBHOOK_URL": WEBHOOK,
                "ALERT_EMAIL_TO": "a@example.com",
                "ALERT_EMAIL_FROM": "b@example.com",
                "SMTP_SMARTHOST": "smtp.example.com",
            },
            "SMTP_SMARTHOST must be host:port",
        ),
        (
            {
                "ALERT_WEBHOOK_URL": WEBHOOK,
                "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/x",
                "SLACK_CHANNEL": '#x"\ninjected: true',
            },
            "SLACK_CHANNEL must not contain",
        ),
        (
            {"ALERT_WEBHOOK_URL": WEBHOOK, "SLACK_WEBHOOK_URL_FILE": "/nonexistent/slack"},
            "SLACK_WEBHOOK_URL_FILE: cannot read",
        ),
    ],
)
def test_bad_environment_is_refused_naming_the_variable(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    result = render(tmp_path, env)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "alertmanager.yml").exists()


def _post_alerts(url: str, alerts: list[tuple[str, str, str]]) -> None:
    """Post (alertname, service_name, severity) alerts straight to Alertmanager."""
    payload = [
        {
            "labels": {"alertname": name, "service_name": service, "severity": severity},
            "annotations": {"summary": "s", "description": "d"},
        }
        for name, service, severity in alerts
    ]
    httpx.post(f"{url}/api/v2/alerts", json=payload, timeout=5).raise_for_status()


def _inhibited(url: str) -> dict[tuple[str, str, str], bool]:
    """(alertname, service_name, severity) -> whether Alertmanager inhibits it."""
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=5).json()
    return {
        (a["labels"]["alertname"], a["labels"]["service_name"], a["labels"]["severity"]): bool(
            a["status"]["inhibitedBy"]
        )
        for a in alerts
    }


@pytest.mark.integration
def test_inhibitions_with_the_real_alertmanager(tmp_path: Path) -> None:
    with (
        WebhookReceiver() as hook,
        running_alertmanager(tmp_path, {"ALERT_WEBHOOK_URL": hook.url}) as url,
    ):
        _post_alerts(
            url,
            [
                ("ServiceDown", "down", "critical"),
                ("HighErrorRate", "down", "warning"),
                ("HighLatencyP99", "down", "warning"),
                ("HealthCheckFailing", "down", "critical"),
                ("AvailabilityBudgetBurn", "down", "critical"),
                ("LogLinesDropped", "down", "warning"),
                ("HighErrorRate", "up", "warning"),
                ("LatencyBudgetBurn", "up", "critical"),
                ("LatencyBudgetBurn", "up", "warning"),
                ("LatencyBudgetBurn", "other", "warning"),
            ],
        )
        deadline = time.monotonic() + 10
        state = _inhibited(url)
        while not state[("HighErrorRate", "down", "warning")] and time.monotonic() < deadline:
            time.sleep(0.2)
            state = _inhibited(url)
    assert state == {
        # ServiceDown silences the error, latency and health alerts of its service...
        ("ServiceDown", "down", "critical"): False,
        ("HighErrorRate", "down", "warning"): True,
        ("HighLatencyP99", "down", "warning"): True,
        ("HealthCheckFailing", "down", "critical"): True,
        ("AvailabilityBudgetBurn", "down", "critical"): True,
        # ...but not unrelated ones, nor other services.
        ("LogLinesDropped", "down", "warning"): False,
        ("HighErrorRate", "up", "warning"): False,
        # A page silences the ticket of the same alert and service only.
        ("LatencyBudgetBurn", "up", "critical"): False,
        ("LatencyBudgetBurn", "up", "warning"): True,
        ("LatencyBudgetBurn", "other", "warning"): False,
    }


@pytest.mark.integration
def test_slack_message_is_readable_at_a_glance(tmp_path: Path) -> None:
    """Slack's incoming-webhook protocol is a JSON POST: the receiver stands in for Slack."""
    with WebhookReceiver() as hook, WebhookReceiver() as slack:
        env = {"ALERT_WEBHOOK_URL": hook.url, "SLACK_WEBHOOK_URL": slack.url}
        transform = lambda text: fast_alertmanager_timings(text, "1s", "1s")  # noqa: E731
        with running_alertmanager(tmp_path, env, transform) as url:
            httpx.post(
                f"{url}/api/v2/alerts",
                json=[
                    {
                        "labels": {
                            "alertname": "HighErrorRate",
                            "service_name": "checkout",
                            "severity": "critical",
                        },
                        "annotations": {
                            "summary": "The service answers too many requests with a server error.",
                            "description": "checkout: 12% of requests failed over 5m.",
                            "runbook_url": "https://runbooks.example/HighErrorRate.md",
                            "dashboard_url": "http://127.0.0.1:3000/d/obs-service-overview",
                        },
                    }
                ],
                timeout=5,
            ).raise_for_status()
            assert slack.wait_for(lambda n: len(n) >= 1, timeout=30), "no Slack message"
            assert hook.wait_for(lambda n: len(n) >= 1, timeout=10), "no webhook notification"
    attachment = slack.notifications[0]["attachments"][0]
    assert attachment["title"] == "[CRITICAL FIRING:1] HighErrorRate - checkout"
    text = attachment["text"]
    assert "checkout: 12% of requests failed over 5m." in text
    assert "runbook: https://runbooks.example/HighErrorRate.md" in text
    assert "dashboard: http://127.0.0.1:3000/d/obs-service-overview" in text
    assert hook.notifications[0]["receiver"] == "page"


@pytest.mark.integration
def test_email_is_sent_with_the_on_call_template(tmp_path: Path) -> None:
    with WebhookReceiver() as hook, SmtpDouble() as smtp:
        env = {
            "ALERT_WEBHOOK_URL": hook.url,
            "ALERT_EMAIL_TO": "oncall@example.com",
            "ALERT_EMAIL_FROM": "alertmanager@example.com",
            "SMTP_SMARTHOST": smtp.address,
            "SMTP_REQUIRE_TLS": "false",
        }
        transform = lambda text: fast_alertmanager_timings(text, "1s", "1s")  # noqa: E731
        with running_alertmanager(tmp_path, env, transform) as url:
            _post_alerts(url, [("LogLinesDropped", "checkout", "warning")])
            deadline = time.monotonic() + 30
            while not smtp.messages() and time.monotonic() < deadline:
                time.sleep(0.2)
    messages = smtp.messages()
    assert messages, "no e-mail arrived"
    message = messages[0]
    assert message["To"] == "oncall@example.com"
    assert message["Subject"] == "[WARNING FIRING:1] LogLinesDropped - checkout"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert "since " in body
    assert "runbook: " in body


@pytest.mark.integration
def test_container_entrypoint_renders_then_runs_alertmanager(tmp_path: Path) -> None:
    """What docker-compose runs: entrypoint.sh with RENDER_DIR and Alertmanager's flags."""
    binary = require_binary("alertmanager")
    port = free_port()
    env = {
        "RENDER_DIR": str(tmp_path / "render"),
        "ALERT_WEBHOOK_URL": WEBHOOK,
        "SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/x",
        "PATH": f"{Path(binary).parent}:/usr/bin:/bin",
    }
    cmd = [
        "sh",
        str(ALERTMANAGER_DIR / "entrypoint.sh"),
        f"--storage.path={tmp_path / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with background(cmd, tmp_path / "entrypoint.log", env=env) as process:
        wait_http(f"http://127.0.0.1:{port}/-/ready", timeout=20)
        process.assert_running()
        status = httpx.get(f"http://127.0.0.1:{port}/api/v2/status", timeout=5).json()
    loaded = status["config"]["original"]
    assert "slack_configs" in loaded
    assert f"{tmp_path / 'render'}/secrets/webhook_url" in loaded
