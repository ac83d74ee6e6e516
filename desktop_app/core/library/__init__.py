"""The model library: every GGUF file on this machine, QuantDesk's own and other apps'."""
