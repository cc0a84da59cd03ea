"""cameo's shared code: typed config, pure normalization logic and small AWS adapters.

Shipped to Lambda as a layer (layers/cameo_core -> /opt/python/cameo_core) and installed into the
project's venv for the CLI and the tests.
"""
