"""Log shipping: tail sources, batch, push to Loki, checkpoint what Loki acknowledged."""
