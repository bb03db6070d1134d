"""Business rules between the routers and data access."""
