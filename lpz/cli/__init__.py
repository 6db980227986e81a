"""The `lpz` command line (lpz.cli.main), with `lpz data` and `lpz scorer`."""
from lpz.cli.main import app, entry

__all__ = ["app", "entry"]
