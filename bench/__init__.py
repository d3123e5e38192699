"""wasync's benchmarks; `make bench` runs them all (never part of `make test`)."""
