"""Commands from the shell: MongoDB away is one line and exit 5; an empty embedded store is refused (6)."""
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(db):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE", "MONGODB_URI")}
    base.update(SQLITE_PATH=str(db), DJANGO_SETTINGS_MODULE="project.settings",
                DJANGO_SECRET_KEY="guard-test")
    return base


@pytest.fixture(scope="module")
def one_operator(tmp_path_factory):
    """A migrated SQLite file with one operator, made once; each test runs on a copy of its own."""
    db = tmp_path_factory.mktemp("guard") / "guard.sqlite3"
    setup = ("import django; django.setup();"
             "from django.core.management import call_command; call_command('migrate', verbosity=0);"
             "from tests.reference_builder import ReferenceBuilder as B; b = B();"
             "c = b.operator('Guard TV'); b.channel(c, 'One', 1)")
    subprocess.run([sys.executable, "-c", setup], cwd=ROOT, env=environment(db), check=True, timeout=120)
    return db


@pytest.fixture
def manage(tmp_path, one_operator):
    """`manage.py *argv` in its own process on this test's copy of the SQLite file with one operator."""
    db = tmp_path / "guard.sqlite3"
    shutil.copyfile(one_operator, db)

    def run(*argv, **env):
        return subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env={**environment(db), **env},
                              capture_output=True, text=True, timeout=120)
    return run


def test_migrate_goes_through_with_mongodb_down(manage):
    done = manage("migrate", MONGODB_URI=f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=200")
    assert done.returncode == 0 and "viewstats_indexes" in done.stderr, done.stderr


@pytest.mark.parametrize("argv", [
    ["create_channel_sorting_by_popularity", "--client_id=1", "--days_number=7", "--criterion=watch"],
    ["cache_max_online"],
    ["cache_customers_dynamic"],
])
def test_mongodb_unreachable_is_one_line_and_exit_5(manage, argv):
    done = manage(*argv,
                  MONGODB_URI=f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=200")
    assert done.returncode == 5, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    [line] = [l for l in done.stderr.splitlines() if l.strip()]
    assert "statistics database (MongoDB) is unreachable" in line


def test_an_empty_embedded_store_is_refused_from_the_shell(manage):
    done = manage("create_channel_sorting_by_popularity", "--client_id=1", "--days_number=7",
                  "--criterion=watch")
    assert done.returncode == 6 and "embedded engine" in done.stderr, (done.stdout, done.stderr)
    # Payments and subscribers come from SQL: that command has nothing to refuse.
    done = manage("collect_daily_stats")
    assert done.returncode == 0, done.stderr
