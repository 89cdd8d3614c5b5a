"""The sampling, limit and identity parameters a model request carries: one table.

Each row names the field (the same on the create request, `ModelRequest` and the Response
echo), what a Chat Completions upstream calls it, what the Response shows when the client
left it out, and whether it changes what the model generates (a provider that cannot
honour such a parameter must refuse it; identity fields are passed on where a backend takes
them and are otherwise only echoed).
"""

from dataclasses import dataclass
from typing import Any

from responsd.errors import UnsupportedParameterError


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    wire: str
    """The field of a Chat Completions request."""
    echo: Any = None
    """What a Response shows when the client left it out (null for None)."""
    generation: bool = True
    """It changes the tokens generated (identity and caching fields do not)."""


PARAMS: tuple[Param, ...] = (
    Param("temperature", "temperature", 1.0),
    Param("top_p", "top_p", 1.0),
    Param("presence_penalty", "presence_penalty", 0.0),
    Param("frequency_penalty", "frequency_penalty", 0.0),
    Param("max_output_tokens", "max_tokens"),
    Param("stop", "stop"),
    Param("seed", "seed"),
    Param("user", "user", generation=False),
    Param("safety_identifier", "safety_identifier", generation=False),
    Param("prompt_cache_key", "prompt_cache_key", generation=False),
    Param("prompt_cache_retention", "prompt_cache_retention", generation=False),
    Param("service_tier", "service_tier", generation=False),
)
NAMES = tuple(param.name for param in PARAMS)


def values(source: object) -> dict[str, Any]:
    """The table's fields that `source` (a request) has, as given (None: left out)."""
    return {param.name: getattr(source, param.name) for param in _present(type(source))}


def echoed(source: object, fields: frozenset[str]) -> dict[str, Any]:
    """The table's fields a Response shows (`fields`): as given, or their echo default."""
    shown = {}
    for param in _present(type(source)):
        if param.name in fields:
            value = getattr(source, param.name)
            shown[param.name] = param.echo if value is None else value
    return shown


_PRESENT: dict[type, tuple[Param, ...]] = {}


def _present(kind: type) -> tuple[Param, ...]:
    """The rows a request model has fields for, found once per model (asking each instance
    raised and caught an AttributeError per missing name, on every request)."""
    rows = _PRESENT.get(kind)
    if rows is None:
        fields = getattr(kind, "model_fields", {})
        rows = tuple(p for p in PARAMS if p.name in fields or hasattr(kind, p.name))
        _PRESENT[kind] = rows
    return rows


def wire(request: object) -> dict[str, Any]:
    """The fields a Chat Completions upstream is sent: those the client set."""
    return {
        param.wire: value
        for param in PARAMS
        if (value := getattr(request, param.name, None)) is not None
    }


def check(request: object, honoured: frozenset[str], backend: str) -> None:
    """A 400 naming the first generation parameter set on `request` that `backend` does not
    honour (a provider calls it from `validate`, with the names it declares)."""
    for param in PARAMS:
        unset = getattr(request, param.name, None) is None
        if param.generation and param.name not in honoured and not unset:
            raise UnsupportedParameterError(
                f"{backend} cannot honour `{param.name}`; leave it out.", param=param.name
            )
