"""Request metrics (http_server_request_duration_seconds) derived from a service's access log."""
