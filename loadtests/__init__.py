"""Load generators, benchmarks and the soak test of the gateway (scripts that print figures, not tests)."""
