"""The demo's upstream: a small Petstore the demo API forwards to (only with KEYWARD_DEMO_UPSTREAM).

It answers what the gateway forwarded: the pets, and for whom the gateway let the call
through (its identity headers), so the demo shows the gateway at work without another server.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException

router = APIRouter(prefix="/demo/petstore/v1", include_in_schema=False)

PETS = [
    {"id": 1, "name": "Rex", "tag": "dog"},
    {"id": 2, "name": "Tom", "tag": "cat"},
    {"id": 3, "name": "Nemo", "tag": None},
]

Identity = Annotated[str | None, Header(alias="X-Keyward-Acquisition-Id")]


@router.get("/pets")
def list_pets(acquisition: Identity = None, limit: int = 100) -> dict[str, Any]:
    return {"pets": PETS[: max(0, limit)], "served_for_acquisition": acquisition}


@router.get("/pets/{pet_id}")
def show_pet(pet_id: int, acquisition: Identity = None) -> dict[str, Any]:
    for pet in PETS:
        if pet["id"] == pet_id:
            return {"pet": pet, "served_for_acquisition": acquisition}
    raise HTTPException(404, "No such pet.")
