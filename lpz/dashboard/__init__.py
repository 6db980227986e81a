"""`lpz dashboard`: a live web view of every run in a store, read from the store alone.

reading.py gathers what the pages show (the status is lpz.views.status's, so the page shows exactly
what `lpz status --json` prints); app.py serves it (Starlette) with the checks on every URL and the
token that guards the actions; static/ holds the pages (plain HTML, CSS and JS, nothing fetched).
Nothing in lpz's core imports this package: the CLI imports it only for `lpz dashboard`.
"""
