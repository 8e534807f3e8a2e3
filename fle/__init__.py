"""The `fle` command: thin wiring of the packages into runnable services."""
