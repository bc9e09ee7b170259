"""Swagger UI's assets, from the installed swagger-ui-bundle package, served by this app, so
that /docs works with no internet. flask-smorest renders /docs itself and points here."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"

blp = Blueprint("docs_assets", __name__)


@blp.route(f"{ASSETS_URL}<path:filename>", methods=["GET"])
def swagger_ui_asset(filename: str) -> Response:
    # send_from_directory refuses paths that leave the directory (404).
    return send_from_directory(str(swagger_ui_path), filename, max_age=3600)
