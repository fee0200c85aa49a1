"""Production settings for gunicorn: gunicorn -c gunicorn.conf.py "server:create_app()"."""

import multiprocessing
import os

bind = os.environ.get("FAQBOT_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("FAQBOT_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
# Answering is Python work, which threads of one process take turns at (the GIL): processes use the cores,
# and two threads each only overlap the waits on storage. More threads measured slower (bench/README.md).
threads = int(os.environ.get("FAQBOT_THREADS", 2))
# WeChat waits 5 s for a passive reply; anything slower is already lost, so do not hold a worker longer.
timeout = 30
graceful_timeout = 10
keepalive = 5
# Bound what a client can send before Flask sees it.
limit_request_line = 4096
limit_request_fields = 50
limit_request_field_size = 8190
# Each worker builds its own index after the fork and watches the corpus for changes.
preload_app = False
accesslog = "-"
# JSON access records without query strings (WeChat's carry signatures, nonces and OpenIDs).
logger_class = "bot.logs.JsonAccessLogger"
