"""A logged-in page of the session's Chromium (conftest's `chromium` fixture)."""
from contextlib import contextmanager


@contextmanager
def admin_page(browser, live_server, settings, cookie, width, height, timeout=15000):
    """(page, errors): a page of a new context carrying the session `cookie`;
    `errors` collects the page's script errors. The context closes after."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(timeout)
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
    finally:
        context.close()
