"""QuantDesk: run quantized language models locally and see what each bit width costs."""

__version__ = "0.1.0"
