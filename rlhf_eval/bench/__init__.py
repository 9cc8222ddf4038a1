"""Static RM benchmarks. To add one, give it a loader and a scorer in `registry.BENCHMARKS`."""
