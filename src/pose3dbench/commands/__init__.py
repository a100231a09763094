"""Sub-commands of the CLI, one module each (discovered automatically by ``cli.py``)."""
