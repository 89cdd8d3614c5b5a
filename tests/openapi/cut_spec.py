"""Regenerate `served.json` from the official OpenAPI spec.

    python tests/openapi/cut_spec.py [path/to/openapi.yaml]

The official spec (openai/openai-openapi, MIT licence, see LICENSE here) is ~3 MB and lives
beside the repository in `../shared/reference/`, which a clone elsewhere does not have. The
conformance test runs on this cut instead: only the paths responsd serves, and the
components they reach, unchanged.
"""

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parents[2] / "shared/reference/openai-openapi/openapi.yaml"
SERVED = (
    "/responses",
    "/conversations",
    "/models",
    "/files",
    "/uploads",
    "/vector_stores",
    "/chat/completions",
)


def cut(spec: dict) -> dict:
    paths = {
        path: ops
        for path, ops in spec["paths"].items()
        if path.startswith(SERVED) and "?" not in path  # `?beta=true` twins: same operations
    }
    components: dict[str, dict] = {}
    pending = [paths]
    while pending:
        for ref in _refs(pending.pop()):
            _, _, kind, name = ref.split("/", 3)
            if name not in components.setdefault(kind, {}):
                components[kind][name] = spec["components"][kind][name]
                pending.append(components[kind][name])
    head = {k: v for k, v in spec.items() if k not in ("paths", "components", "x-oaiMeta")}
    return {**head, "paths": paths, "components": components}


def _refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/components/"):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


if __name__ == "__main__":
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    spec = yaml.load(source.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (HERE / "served.json").write_text(json.dumps(cut(spec), indent=1, sort_keys=False) + "\n")
