"""What referral and notify hold about some requests: the per-service part of an erasure's dry run.

booking finds the patient's requests (it owns the identity); this reads the other services'
databases (REFERRAL_DATABASE_URL, NOTIFY_DATABASE_URL, as `clinic reconcile` does) in read-only
sessions for the operator, so a dry run shows what each service would anonymise. It reports
references and kinds of record only, never a patient's details, and writes nothing.
"""

import uuid
from collections import defaultdict

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from clinic_shared.operators.reconcile import _read_only

# (reference, kind of record) for every record a service keeps about the requests
HOLDINGS = {
    "referral": """
        SELECT reference, 'triage entry' FROM triage_entries WHERE request_id = ANY(:ids)
        UNION ALL
        SELECT e.reference, 'referral' FROM referrals r
        JOIN triage_entries e ON e.id = r.triage_entry_id WHERE e.request_id = ANY(:ids)
    """,
    "notify": """
        SELECT reference, 'contact details' FROM request_contacts WHERE request_id = ANY(:ids)
        UNION ALL
        SELECT reference, 'call-back task' FROM callback_tasks WHERE request_id = ANY(:ids)
        UNION ALL
        SELECT reference, kind || ' (' || channel || ')' FROM notifications
        WHERE request_id = ANY(:ids)
        UNION ALL
        SELECT DISTINCT coalesce(payload->'data'->>'reference', '(no reference)'),
               'webhook delivery with contact details'
        FROM webhook_deliveries WHERE request_id = ANY(:ids) AND (payload->'data') ?| ARRAY[
            'name', 'email', 'phone', 'contact_time', 'reason']
    """,
}


def holdings(urls: dict[str, str], request_ids: list[uuid.UUID]) -> dict[str, str]:
    """Per service, one line per reference: the kinds of record it holds (or why unknown)."""
    described: dict[str, str] = {}
    for service, sql in HOLDINGS.items():
        engine = _read_only(urls[service])
        try:
            with engine.connect() as conn:
                rows = conn.execute(text(sql), {"ids": request_ids}).all()
        except SQLAlchemyError as exc:
            described[service] = f"could not be read ({type(exc).__name__}); it follows anyway"
            continue
        finally:
            engine.dispose()
        kinds: dict[str, list[str]] = defaultdict(list)
        for reference, kind in rows:
            kinds[reference].append(kind)
        described[service] = "; ".join(
            f"{reference}: {', '.join(sorted(set(found)))}"
            for reference, found in sorted(kinds.items())) or "nothing"
    return described
