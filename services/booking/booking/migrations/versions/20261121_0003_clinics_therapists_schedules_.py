"""clinics, therapists, schedules, appointments, offers, richer requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 05:48:41.143071
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _clinics_therapists_appointments()
    _schedules_and_offers()
    _request_details()


def _clinics_therapists_appointments() -> None:
    op.execute('CREATE EXTENSION IF NOT EXISTS btree_gist')
    op.create_table('clinics',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('postcode', sa.String(length=10), nullable=False),
    sa.Column('opening_hours', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('home_visit_districts', postgresql.ARRAY(sa.String(length=6)), server_default='{}', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_clinics'))
    )
    op.create_table('therapists',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('disciplines', postgresql.ARRAY(sa.String(length=30)), nullable=False),
    sa.Column('sites', postgresql.ARRAY(sa.String(length=40)), server_default='{}', nullable=False),
    sa.Column('modes', postgresql.ARRAY(sa.String(length=20)), server_default='{}', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_therapists'))
    )
    op.create_table('appointments',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=True),
    sa.Column('appointment_type', sa.String(length=30), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('slot', postgresql.TSTZRANGE(), nullable=False),
    sa.Column('busy', postgresql.TSTZRANGE(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('booked_by', sa.String(length=10), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=True),
    sa.Column('previous_appointment_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    postgresql.ExcludeConstraint((sa.text('request_id'), '='), (sa.text('slot'), '&&'), where=sa.text("status = 'booked'"), using='gist', name='no_double_booking_patient'),
    postgresql.ExcludeConstraint((sa.text('therapist_id'), '='), (sa.text('busy'), '&&'), where=sa.text("status = 'booked'"), using='gist', name='no_double_booking_therapist'),
    sa.CheckConstraint("mode IN ('clinic', 'virtual', 'home_visit')", name=op.f('ck_appointments_mode')),
    sa.CheckConstraint("status IN ('booked', 'cancelled', 'rescheduled')", name=op.f('ck_appointments_status')),
    sa.ForeignKeyConstraint(['request_id'], ['appointment_requests.id'], name=op.f('fk_appointments_request_id_appointment_requests')),
    sa.ForeignKeyConstraint(['site_id'], ['clinics.id'], name=op.f('fk_appointments_site_id_clinics')),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapists.id'], name=op.f('fk_appointments_therapist_id_therapists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointments')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_appointments_idempotency_key'))
    )
    op.create_index(op.f('ix_appointments_request_id'), 'appointments', ['request_id'], unique=False)
    op.create_index('ix_appointments_therapist_busy', 'appointments', ['therapist_id', 'status'], unique=False)


def _schedules_and_offers() -> None:
    op.create_table('schedule_exceptions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_schedule_exceptions_order')),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapists.id'], name=op.f('fk_schedule_exceptions_therapist_id_therapists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schedule_exceptions'))
    )
    op.create_index(op.f('ix_schedule_exceptions_therapist_id'), 'schedule_exceptions', ['therapist_id'], unique=False)
    op.create_table('slot_offers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['appointment_requests.id'], name=op.f('fk_slot_offers_request_id_appointment_requests')),
    sa.ForeignKeyConstraint(['site_id'], ['clinics.id'], name=op.f('fk_slot_offers_site_id_clinics')),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapists.id'], name=op.f('fk_slot_offers_therapist_id_therapists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_slot_offers'))
    )
    op.create_index(op.f('ix_slot_offers_request_id'), 'slot_offers', ['request_id'], unique=False)
    op.create_table('working_patterns',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('therapist_id', sa.Uuid(), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=False),
    sa.Column('starts', sa.Time(), nullable=False),
    sa.Column('ends', sa.Time(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=True),
    sa.CheckConstraint("mode = 'virtual' OR site_id IS NOT NULL", name=op.f('ck_working_patterns_site_needed')),
    sa.CheckConstraint("mode IN ('clinic', 'virtual', 'home_visit')", name=op.f('ck_working_patterns_mode')),
    sa.CheckConstraint('starts < ends', name=op.f('ck_working_patterns_order')),
    sa.CheckConstraint('weekday BETWEEN 0 AND 6', name=op.f('ck_working_patterns_weekday')),
    sa.ForeignKeyConstraint(['site_id'], ['clinics.id'], name=op.f('fk_working_patterns_site_id_clinics')),
    sa.ForeignKeyConstraint(['therapist_id'], ['therapists.id'], name=op.f('fk_working_patterns_therapist_id_therapists')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_working_patterns'))
    )
    op.create_index(op.f('ix_working_patterns_therapist_id'), 'working_patterns', ['therapist_id'], unique=False)


def _request_details() -> None:
    op.add_column('appointment_requests', sa.Column('site_id', sa.String(length=40), nullable=True))
    op.add_column('appointment_requests', sa.Column('postcode', sa.String(length=10), nullable=True))
    op.add_column('appointment_requests', sa.Column('contact_time', sa.String(length=20), nullable=True))
    op.add_column('appointment_requests', sa.Column('body_areas', postgresql.ARRAY(sa.String(length=30)), server_default='{}', nullable=False))
    op.add_column('appointment_requests', sa.Column('after_surgery', sa.Boolean(), server_default='false', nullable=False))
    op.add_column('appointment_requests', sa.Column('surgery', sa.String(length=200), nullable=True))
    op.add_column('appointment_requests', sa.Column('surgery_date', sa.Date(), nullable=True))
    op.add_column('appointment_requests', sa.Column('preferred_times', postgresql.ARRAY(sa.String(length=30)), server_default='{}', nullable=False))
    op.add_column('appointment_requests', sa.Column('red_flags', postgresql.ARRAY(sa.String(length=30)), server_default='{}', nullable=False))
    op.add_column('appointment_requests', sa.Column('booked_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('appointment_requests', sa.Column('sla_at_risk_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('appointment_requests', sa.Column('sla_breached_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_appointment_requests_open_deadline', 'appointment_requests', ['appointment_by'], unique=False, postgresql_where=sa.text('booked_at IS NULL AND cancelled_at IS NULL'))


def downgrade() -> None:
    op.drop_index('ix_appointment_requests_open_deadline', table_name='appointment_requests', postgresql_where=sa.text('booked_at IS NULL AND cancelled_at IS NULL'))
    op.drop_column('appointment_requests', 'sla_breached_at')
    op.drop_column('appointment_requests', 'sla_at_risk_at')
    op.drop_column('appointment_requests', 'booked_at')
    op.drop_column('appointment_requests', 'red_flags')
    op.drop_column('appointment_requests', 'preferred_times')
    op.drop_column('appointment_requests', 'surgery_date')
    op.drop_column('appointment_requests', 'surgery')
    op.drop_column('appointment_requests', 'after_surgery')
    op.drop_column('appointment_requests', 'body_areas')
    op.drop_column('appointment_requests', 'contact_time')
    op.drop_column('appointment_requests', 'postcode')
    op.drop_column('appointment_requests', 'site_id')
    op.drop_index(op.f('ix_working_patterns_therapist_id'), table_name='working_patterns')
    op.drop_table('working_patterns')
    op.drop_index(op.f('ix_slot_offers_request_id'), table_name='slot_offers')
    op.drop_table('slot_offers')
    op.drop_index(op.f('ix_schedule_exceptions_therapist_id'), table_name='schedule_exceptions')
    op.drop_table('schedule_exceptions')
    op.drop_index('ix_appointments_therapist_busy', table_name='appointments')
    op.drop_index(op.f('ix_appointments_request_id'), table_name='appointments')
    op.drop_table('appointments')
    op.drop_table('therapists')
    op.drop_table('clinics')
    op.execute('DROP EXTENSION IF EXISTS btree_gist')
