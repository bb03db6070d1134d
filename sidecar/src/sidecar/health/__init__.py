"""Health checks of the watched services, their aggregate at GET /health, and their metrics."""
