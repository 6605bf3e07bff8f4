"""notify's own operator commands."""
