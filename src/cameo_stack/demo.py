"""Placeholder until the demo lands."""


def run_demo(**kwargs):  # type: ignore[no-untyped-def]
    raise NotImplementedError
