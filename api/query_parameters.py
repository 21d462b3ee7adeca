"""A query parameter the route does not declare is refused (422), never ignored.

Ignored, a misspelt filter (`?grup=kiosk-team`) or a search the route does not offer (`?q=`)
answers with everything, and the caller cannot tell. One app-wide dependency compares the
request's query keys with the parameters the route declares (by their public names, aliases
included); the answer is the same 422 problem as any other invalid input, naming the parameter in
`errors[].loc` and saying which ones the route takes.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

#: The attribute a route keeps its declared query parameters under, worked out on first use.
_DECLARED = "_itsm_query_parameters"


async def reject_unknown_query_parameters(request: Request) -> None:
    if not request.scope.get("query_string"):
        return  # the usual case costs one look-up
    route = request.scope.get("route")
    dependant: Dependant | None = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared: frozenset[str] | None = getattr(route, _DECLARED, None)
    if declared is None:
        declared = declared_query_parameters(dependant)
        setattr(route, _DECLARED, declared)  # a pure function of the route: same for every app
    unknown = [name for name in request.query_params.keys() if name not in declared]  # noqa: SIM118
    if unknown:
        takes = ", ".join(sorted(declared)) if declared else "none"
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"unknown query parameter; this route takes: {takes}",
                    "input": request.query_params.get(name),
                }
                for name in unknown
            ]
        )


#: For FastAPI(dependencies=[...]): every route of the app checks its query.
REJECT_UNKNOWN_QUERY_PARAMETERS: Any = Depends(reject_unknown_query_parameters)


def declared_query_parameters(dependant: Dependant) -> frozenset[str]:
    """The query parameter names a route (its endpoint and every dependency) declares."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = field.field_info.annotation
            if isinstance(model, type) and issubclass(model, BaseModel):  # a query model
                names.update(f.alias or name for name, f in model.model_fields.items())
            else:
                names.add(field.alias)
        pending.extend(current.dependencies)
    return frozenset(names)
