import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings.local")
application = get_wsgi_application()


def settle_heap() -> None:
    """Before the first request: the views loaded (the URLconf imports them and what they use), the garbage of
    start-up collected, and what is left moved out of the cyclic collector's sight. A full collection walked every
    object of it (about 260,000 after a first page), stopping every thread of the worker for 70-140 ms; now it walks
    what was made since."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (loading the URLconf is the point)
    gc.collect()
    gc.freeze()


settle_heap()
