"""One look for every service's pages: the base template, the stylesheet, the Jinja2 setup."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

SHARED = Path(__file__).parent


def page_templates(service_templates: Path) -> Jinja2Templates:
    """Templates from the service's folder, falling back to the shared base (autoescaped)."""
    templates = Jinja2Templates(directory=service_templates)
    templates.env.loader = ChoiceLoader([FileSystemLoader(service_templates),
                                         FileSystemLoader(SHARED / "templates")])
    return templates


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=SHARED / "static"), name="static")
