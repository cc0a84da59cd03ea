"""The read-only HTTP API's logic: ids and cursors, response models, routes and exports.

Everything it shows comes from cameo_core.read (the current, finished job only), the same read
model the CLI uses, so the API, the CLI and the page cannot disagree.
"""
