"""the triage engine's reading on triage entries: red flags found, reasons quoting the patient

Adds `red_flags_found` ([{category, phrase}], the patient's own words) and rewrites the old rule
book's reasons ({rule, pathway, description, matched: ["word:x", "body_area:y", ...]}) in the
engine's shape ({rule, phrases}: the words that matched). Downgrade writes them back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 18:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('triage_entries', sa.Column('red_flags_found', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False))
    op.execute("""
        UPDATE triage_entries SET suggestion_reasons = COALESCE((
            SELECT jsonb_agg(jsonb_build_object(
                'rule', reason->>'rule',
                'phrases', COALESCE((
                    SELECT jsonb_agg(substr(matched, 6))
                    FROM jsonb_array_elements_text(COALESCE(reason->'matched', '[]')) AS m(matched)
                    WHERE matched LIKE 'word:%'), '[]'::jsonb)))
            FROM jsonb_array_elements(suggestion_reasons) AS r(reason)), '[]'::jsonb)
        WHERE jsonb_path_exists(suggestion_reasons, '$[*].matched')
    """)


def downgrade() -> None:
    op.execute("""
        UPDATE triage_entries SET suggestion_reasons = COALESCE((
            SELECT jsonb_agg(jsonb_build_object(
                'rule', reason->>'rule',
                'pathway', CASE WHEN suggested_pathway IN ('manual_therapy', 'rehab_physio', 'both')
                                THEN suggested_pathway ELSE 'both' END,
                'description', '',
                'matched', COALESCE((
                    SELECT jsonb_agg('word:' || phrase)
                    FROM jsonb_array_elements_text(COALESCE(reason->'phrases', '[]')) AS p(phrase)),
                    '[]'::jsonb)))
            FROM jsonb_array_elements(suggestion_reasons) AS r(reason)), '[]'::jsonb)
        WHERE jsonb_path_exists(suggestion_reasons, '$[*].phrases')
    """)
    # the older code's pathways are the three disciplines' only
    op.execute("UPDATE triage_entries SET suggested_pathway = 'both' "
               "WHERE suggested_pathway IN ('unsure', 'urgent_review')")
    op.drop_column('triage_entries', 'red_flags_found')
