"""The append-only audit trail: every staff read or change of a patient's record, per service."""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session, sessionmaker

from clinic_shared.auth.access import allow
from clinic_shared.auth.principal import Principal, Role
from clinic_shared.correlation import correlation_id_var
from clinic_shared.strict_types import IsoDatetime


def define_audit_table(metadata: MetaData) -> Table:
    return Table(
        "audit_events",
        metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("occurred_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", String(200), nullable=False),
        Column("role", String(20), nullable=False),
        Column("action", String(50), nullable=False),
        Column("record_type", String(50), nullable=False),
        Column("record_id", String(64)),
        Column("correlation_id", String(64)),
        Index("ix_audit_events_record", "record_type", "record_id"),
        Index("ix_audit_events_actor", "actor", "occurred_at"),
    )


def record(session: Session, audit: Table, principal: Principal, action: str,
           record_type: str, record_id: uuid.UUID | str | None = None) -> None:
    """Append one audit row in the caller's transaction (commit it with the read or change)."""
    session.execute(insert(audit).values(
        actor=principal.subject,
        role=principal.role.value,
        action=action,
        record_type=record_type,
        record_id=None if record_id is None else str(record_id),
        correlation_id=correlation_id_var.get(),
    ))


class AuditEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    actor: str
    role: str
    action: str
    record_type: str
    record_id: str | None
    correlation_id: str | None


def audit_router(sessions: sessionmaker[Session], audit: Table) -> APIRouter:
    router = APIRouter(tags=["audit"])

    @router.get("/api/audit-events", response_model=list[AuditEventPublic], **allow(Role.admin))
    def list_audit_events(
        actor: str | None = None,
        record_id: str | None = None,
        record_type: str | None = None,
        since: IsoDatetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """The audit trail, newest first (clinic lead / admin)."""
        query = select(audit).order_by(audit.c.id.desc()).limit(limit)
        for column, value in (("actor", actor), ("record_id", record_id),
                              ("record_type", record_type)):
            if value is not None:
                query = query.where(audit.c[column] == value)
        if since is not None:
            query = query.where(audit.c.occurred_at >= since)
        with sessions() as session:
            return [AuditEventPublic.model_validate(row) for row in
                    session.execute(query).mappings()]

    return router


AUDIT_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
"""
DROP_AUDIT_APPEND_ONLY = """
DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
DROP FUNCTION IF EXISTS audit_events_append_only();
"""
