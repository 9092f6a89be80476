"""weightswitch: switcher networks that gate fully connected weights, benchmarked honestly."""

__version__ = "0.1.0"
