"""Bare programs that do the least a job needs, as a floor to measure the project's code against."""
