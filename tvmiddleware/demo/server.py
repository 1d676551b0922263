"""A real HTTP server on localhost for the demo, and a small JSON client for it."""
import json
import threading
from socketserver import ThreadingMixIn
from urllib import request as urlrequest
from urllib.error import HTTPError
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class LocalServer:
    """The project's WSGI application on 127.0.0.1, in a background thread."""

    def __init__(self, port=0):
        # Static files too, so the admin and the dynamics charts work on --serve.
        self.httpd = make_server("127.0.0.1", port, StaticFilesHandler(get_wsgi_application()),
                                 server_class=_ThreadingServer, handler_class=_QuietHandler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def serve_forever(self):
        self.thread.join()


class JsonHttp:
    def __init__(self, base_url):
        self.base_url = base_url

    def _send(self, req):
        try:
            with urlrequest.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except HTTPError as exc:
            body = exc.read()
            try:
                return exc.code, json.loads(body)
            except ValueError:
                return exc.code, {"error": body.decode(errors="replace")}

    def get(self, path, params, headers=None):
        req = urlrequest.Request(f"{self.base_url}{path}?{urlencode(params)}", headers=headers or {})
        return self._send(req)[1]

    def post_raw(self, path, data, headers):
        req = urlrequest.Request(f"{self.base_url}{path}", data=data, headers=headers, method="POST")
        return self._send(req)

    def post_json(self, path, payload, headers=None):
        return self.post_raw(path, json.dumps(payload).encode(),
                             {"Content-Type": "application/json", **(headers or {})})
