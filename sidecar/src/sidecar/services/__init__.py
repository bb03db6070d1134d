"""The services file: the services beside which the stack runs (schema and loader)."""
