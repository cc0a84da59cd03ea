"""Write (or check) docs/openapi.json from the API's routes.

python -m functions.api.openapi            # rewrite docs/openapi.json
python -m functions.api.openapi --check    # exit 1 if the committed document drifted
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cameo_core.api.routes import ApiDeps, build_app, openapi_document

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _no_deps() -> ApiDeps:
    raise RuntimeError("the OpenAPI document is built without serving a request")


def generate() -> dict[str, Any]:
    return openapi_document(build_app(_no_deps))


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python -m functions.api.openapi")
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
