"""The admin app under ``/_daypart``: the JSON API (``app``), the HTML pages (``pages``),
the OpenAPI document (``openapi``) and the public conversion beacon (``beacon``)."""

from daypart.middleware.admin.app import build_admin_app

__all__ = ["build_admin_app"]
