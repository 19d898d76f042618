"""Benchmarks: the course's models trained by jaxcourse, PyTorch and TensorFlow on this machine.

`python -m experiments.bench --help`; results are explained in docs/performance.md.
"""
