"""The stack's on-call desk: an alert inbox for Alertmanager and the runbooks its alerts link to."""
