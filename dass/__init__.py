"""dass: distillation-aware student search."""

__version__ = "0.1.0"
