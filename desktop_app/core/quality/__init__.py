"""Measured quality of a quantized model against a reference: KL divergence, top-1 agreement,
perplexity (the statistics llama.cpp's llama-perplexity --kl-divergence reports)."""
