"""Benchmarks of the portal: ``make bench`` runs ``bench.run`` (README, "Benchmark")."""
