"""Test settings: the reference deployment plus the toy host app."""
from project.settings import *  # noqa: F401,F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.toyhost"]
