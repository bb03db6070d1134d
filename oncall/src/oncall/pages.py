"""The HTML around the inbox and the runbooks: one self-contained page, no script."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlsplit

# No script, no frames, no remote anything: the pages are text and links.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45;color:#1d1d1f}table{border-collapse:collapse;width:100%}"
    "td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}"
    "code,pre{background:#f3f3f3}pre{padding:.5rem;overflow:auto}"
    ".firing{color:#b00020;font-weight:600}.resolved{color:#1b7f3b}nav{margin-bottom:1rem}"
)


def page(title: str, body: str, nav: str = "") -> str:
    """A complete HTML document; `body` and `nav` must already be safe HTML."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><nav>{nav}</nav>{body}</body></html>"
    )


def _link(url: str, text: str) -> str:
    # Only http(s) links become anchors: an annotation is free text from a rule.
    if urlsplit(url).scheme in ("http", "https"):
        return f'<a href="{html.escape(url)}" rel="noreferrer">{html.escape(text)}</a>'
    return html.escape(url)


def inbox(records: list[dict[str, Any]]) -> str:
    """The inbox page: the most recent notifications first."""
    rows = []
    for record in reversed(records):
        for alert in record.get("alerts", []):
            annotations = alert.get("annotations", {})
            labels = alert.get("labels", {})
            links = " ".join(
                _link(annotations[key], name)
                for key, name in (("runbook_url", "runbook"), ("dashboard_url", "dashboard"))
                if key in annotations
            )
            status = alert.get("status", "")
            what = annotations.get("description") or annotations.get("summary", "")
            rows.append(
                "<tr>"
                f"<td>{html.escape(str(record.get('timestamp', '')))}</td>"
                f'<td class="{html.escape(status)}">{html.escape(status)}</td>'
                f"<td>{html.escape(labels.get('alertname', ''))}</td>"
                f"<td>{html.escape(labels.get('service_name', ''))}</td>"
                f"<td>{html.escape(labels.get('severity', ''))}"
                f" ({html.escape(str(record.get('receiver', '')))})</td>"
                f"<td>{html.escape(what)}"
                f"<br>{links}</td></tr>"
            )
    table = (
        "<table><tr><th>received</th><th>status</th><th>alert</th><th>service</th>"
        "<th>severity (receiver)</th><th>what</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No notification yet. Pages and tickets that Alertmanager sends here appear "
        "at the top; they also go to Loki as log records of service_name=oncall.</p>"
    )
    body = f"<h1>Alert inbox</h1><p>The {len(records)} most recent notifications.</p>{table}"
    return page("Alert inbox", body, nav='<a href="/runbooks/">Runbooks</a>')
