"""HTTP in and out: routers and their dependencies, nothing else."""
