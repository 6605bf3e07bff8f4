"""One look for every service's pages: the base template, the stylesheet, the Jinja2 setup."""

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

SHARED = Path(__file__).parent


def _root_path(request: Request) -> dict[str, Any]:
    return {"root_path": request.scope.get("root_path", "")}


def page_templates(service_templates: Path, **defaults: Any) -> Jinja2Templates:
    """Templates from the service's folder, falling back to the shared base (autoescaped).
    `defaults` are globals every page sees (e.g. clinic_name); each page also gets root_path."""
    templates = Jinja2Templates(directory=service_templates, context_processors=[_root_path])
    templates.env.loader = ChoiceLoader([FileSystemLoader(service_templates),
                                         FileSystemLoader(SHARED / "templates")])
    templates.env.globals.update(defaults)
    return templates


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=SHARED / "static"), name="static")
