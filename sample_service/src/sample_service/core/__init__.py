"""Cross-cutting concerns: settings, logging, telemetry, metrics, security."""
