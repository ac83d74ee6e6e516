"""The Hugging Face hub: search, repo listings, remote header facts, verified downloads.

No Qt here. Everything the hub sends is untrusted: names are validated before they become
paths (``names``), files are verified against the hub's sha256 before they reach the models
folder (``transfer``), and card text is reduced to plain text (``card``).
"""
