"""Compare: two to four bit widths of one model on the same prompt, and what each bit costs."""
