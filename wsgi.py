"""The WSGI entry point gunicorn serves (see gunicorn.conf.py)."""

from sendai_server import create_app

app = create_app()
