"""A layered FastAPI service with full telemetry: the example the stack observes."""

__version__ = "0.1.0"
