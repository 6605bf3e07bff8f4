"""An appointment's calendar file as a response (staff and patients download the same file)."""

from fastapi import Response
from sqlalchemy.orm import Session

from booking.adapters.calendar import appointment_ics
from booking.adapters.tables import Appointment, AppointmentRequest, Clinic, Therapist


def ics_response(session: Session, appointment: Appointment, clinic_name: str) -> Response:
    request = session.get_one(AppointmentRequest, appointment.request_id)
    therapist = session.get_one(Therapist, appointment.therapist_id)
    clinic = session.get(Clinic, appointment.site_id) if appointment.site_id else None
    body = appointment_ics(appointment, clinic, therapist.name, clinic_name, request.reference)
    return Response(body, media_type="text/calendar", headers={
        "Content-Disposition": f'attachment; filename="appointment-{request.reference}.ics"'})
