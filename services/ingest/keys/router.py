"""``/v1/keys`` (admin): create, list and revoke API keys."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.ingest import errors
from services.ingest.auth import Admin
from services.ingest.keys import schemas, service
from services.ingest.paths import KeyId
from shared import db

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=errors.responses(401, 403, 500))


@router.post("", status_code=201, response_model=schemas.KeyCreated, responses=errors.responses(422))
def create_key(payload: schemas.KeyCreate, _key: Admin) -> schemas.KeyCreated:
    """A new API key with a role. The key is shown once; only its hash is kept."""
    with db.session_scope() as session:
        row, key = service.create_key(session=session, name=payload.name, role=payload.role)
        return schemas.KeyCreated(**row.model_dump(), key=key)


@router.get("", response_model=list[schemas.KeyPublic])
def list_keys(_key: Admin) -> list[schemas.KeyPublic]:
    """Every key: name, role, created, last used, revoked."""
    with db.read_scope() as session:
        return [schemas.KeyPublic.model_validate(k.model_dump()) for k in service.list_keys(session=session)]


@router.delete("/{key_id}", status_code=204, response_class=Response, responses=errors.responses(404, 409))
def revoke_key(key_id: KeyId, _key: Admin) -> Response:
    """Revoke a key: its next request gets 401. The last active admin key cannot be revoked."""
    with db.session_scope() as session:
        service.revoke_key(session=session, key_id=key_id)
    service.forget_keys()
    return Response(status_code=204)
