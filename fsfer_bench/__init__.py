"""fsfer-bench: a benchmark harness for few-shot facial expression recognition."""

__version__ = "0.1.0"
