"""Everything that is not GUI. No Qt import anywhere below this package (import-linter checks)."""
