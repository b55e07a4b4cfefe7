"""Who may see a row: its own tenant, or an admin key. Nothing else decides it.

Jobs, batches, webhook endpoints and deliveries carry the tenant of the key that made them (a batch's
items and a job's deliveries inherit it). A row of another tenant is answered exactly like a row that
does not exist: callers turn ``None`` into 404 ``not_found``, never 403, so a caller cannot learn that
an ID exists.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from core.keys import Principal

Row = TypeVar("Row")


def may_see(principal: Principal, tenant: str) -> bool:
    return principal.admin or tenant == principal.tenant


def owned(session: Session, model: type[Row], row_id: str, principal: Principal) -> Row | None:
    """The row with this ID when the principal may see it; None when it is absent or another tenant's."""
    row = session.get(model, row_id)
    return row if row is not None and may_see(principal, row.tenant) else None


def scoped(query: Select, model, principal: Principal) -> Select:
    """``query`` narrowed to the principal's tenant (admins: left as it is)."""
    return query if principal.admin else query.where(model.tenant == principal.tenant)
