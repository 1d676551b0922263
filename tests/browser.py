"""The run's headless Chromium (conftest's `chromium` fixture) and its logged-in page."""
from contextlib import contextmanager


class Chromium:
    """One browser context and one page for every browser test of the run.

    A new context per test started a new renderer process each time: that
    was most of the browser's CPU. Each use gets its own cookie, viewport,
    timeout and error list, and leaves the page blank (no script of it runs on).
    """

    def __init__(self, browser):
        self.browser = browser
        self.context = browser.new_context()
        self.page = self.context.new_page()

    @contextmanager
    def admin_page(self, live_server, settings, cookie, width, height, timeout=15000):
        """(page, errors): the page carrying the session `cookie` only; `errors`
        collects its script errors until the block ends."""
        page = self.page
        self.context.clear_cookies()
        self.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie,
                                   "url": live_server.url}])
        page.set_viewport_size({"width": width, "height": height})
        page.set_default_timeout(timeout)
        errors = []

        def on_error(exc):
            errors.append(str(exc))

        page.on("pageerror", on_error)
        try:
            yield page, errors
        finally:
            page.remove_listener("pageerror", on_error)
            page.goto("about:blank")
