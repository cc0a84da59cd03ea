"""cameo's local Rekognition-compatible celebrity recognition engine.

Heavy dependencies (dlib, PyAV, numpy) are imported by the submodules that need them, never
here, so that `cameo --help` stays fast.
"""

__version__ = "0.1.0"
