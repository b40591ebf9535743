"""/benchmarks: the caller's runs of one benchmark, compared (best and median, side by side)."""
