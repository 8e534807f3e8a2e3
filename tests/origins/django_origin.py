"""Django: `request.POST` and `request.FILES` (default DATA_UPLOAD_* limits); Django's own threaded
development server (django.core.servers.basehttp). Django has no JSON reader: JSON bodies answer 415."""

from __future__ import annotations

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="differential-harness",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    LOGGING_CONFIG=None,
)
django.setup()

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.http.multipartparser import MultiPartParserError  # noqa: E402
from django.urls import re_path  # noqa: E402

from tests.origins.common import announce, answer, error, text  # noqa: E402


def parse(request: HttpRequest) -> HttpResponse:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return HttpResponse(error("not read"), status=415)
    try:
        fields = [[[k], v] for k, values in request.POST.lists() for v in values]
        files = [[[k], f.name, text(f.read())] for k, fs in request.FILES.lists() for f in fs]
    except (MultiPartParserError, RequestDataTooBig, SuspiciousOperation, BadRequest) as e:
        return HttpResponse(error(repr(e)), status=400)
    except Exception as e:
        return HttpResponse(error(repr(e)), status=500)
    return HttpResponse(answer(fields, files), content_type="application/json")


urlpatterns = [re_path(r"", parse)]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler)
    server.set_app(WSGIHandler())
    announce(server.server_port)
    server.serve_forever()
