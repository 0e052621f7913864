"""Sample process packages for the reference executor."""
