"""booking: appointment requests, clinics, schedules, slots, appointments and the 24-hour clock."""
