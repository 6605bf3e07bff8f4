"""The clinic lead's SLA dashboard page: the promises kept by day, clinic and channel, with a
chart and its table, and the breaches with their causes."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from clinic_shared import audit as audit_trail
from clinic_shared.auth.principal import Role
from clinic_shared.clock import now as clock_now
from referral.adapters.tables import audit
from referral.api.dependencies import SessionsDep, SettingsDep
from referral.api.pages.rendering import PagesDep, ViewerDep, staff_page
from referral.domain.sla_report import MAX_DAYS, SlaReport, build_report

CHART_HEIGHT = 160
CHART_DAY_WIDTH = 44
router = APIRouter(include_in_schema=False)


def chart_geometry(report: SlaReport) -> dict[str, Any]:
    """Bar positions for the dashboard's inline SVG: per day, the two shares side by side."""
    bars = []
    for n, day in enumerate(report.by_day):
        x = 40 + n * CHART_DAY_WIDTH
        for offset, share, kind in ((4, day.contacted_share, "contact"),
                                    (20, day.booked_share, "booked")):
            height = round((share or 0) * CHART_HEIGHT)
            bars.append({"x": x + offset, "y": 10 + CHART_HEIGHT - height, "height": height,
                         "kind": kind, "share": share, "label": day.label})
    return {"bars": bars, "width": 40 + len(report.by_day) * CHART_DAY_WIDTH + 10,
            "height": CHART_HEIGHT, "days": [(40 + n * CHART_DAY_WIDTH, d.label)
                                              for n, d in enumerate(report.by_day)]}


@router.get("/dashboard", **staff_page(Role.admin))
def dashboard(request: Request, viewer: ViewerDep, pages: PagesDep, sessions: SessionsDep,
              settings: SettingsDep,
              days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 14) -> Response:
    """The clinic lead's SLA dashboard: the promises kept by day, clinic and channel, with a
    chart and its table, and the breaches with their causes."""
    if (refused := pages.refuse(request, viewer, (Role.admin,))) is not None:
        return refused
    assert viewer is not None
    with sessions.begin() as session:
        report = build_report(session, days, clock_now(settings))
        audit_trail.record(session, audit, viewer, "read", "sla_report")
    return pages.render(request, viewer, "dashboard.html", report=report, days=days,
                        chart=chart_geometry(report))
