"""Jinja2 templates for referral's pages: its own folder on top of the shared base (escaped)."""

from pathlib import Path

from clinic_shared.web import page_templates

CLINIC_NAME = "Clinic staff"
CLINIC_PHONE = "020 7946 0000"

templates = page_templates(Path(__file__).parent.parent / "templates", clinic_name=CLINIC_NAME,
                           clinic_phone=CLINIC_PHONE)
