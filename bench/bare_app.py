"""A bare Flask app with one constant route: the baseline that bench/load_bench.py measures faqbot against.

gunicorn -c gunicorn.conf.py --pythonpath bench "bare_app:create_app()"
"""

from __future__ import annotations

from flask import Flask, Response

BARE_PATH = "/bare"
BARE_REPLY = "ok"


def create_app() -> Flask:
    """Build the baseline app, so gunicorn's own cost per request can be told apart from faqbot's."""
    app = Flask(__name__)

    @app.route(BARE_PATH, methods=["GET", "POST"])
    def bare() -> Response:
        return Response(BARE_REPLY, mimetype="text/plain")

    return app
