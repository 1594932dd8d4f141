"""Performance budgets checked by `make bench`, each a ratio to a reference timed in the same run.

Benchmarks are not tests: pytest never collects them, and `python -m benchmarks` exits non-zero
when a budget is missed so the figure in benchmarks/README.md can be checked.
"""
