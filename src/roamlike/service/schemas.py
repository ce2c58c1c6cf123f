"""Request bodies of the service as msgspec types: decoded and validated in one step.

A body that does not match is a 400 problem naming the JSON path of the first bad member.
"""

from __future__ import annotations

from typing import Any

#: The request types whose JSON Schemas go into the OpenAPI document.
REQUEST_TYPES: tuple[Any, ...] = ()
