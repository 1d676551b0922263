"""A new user's install, end to end, in a temporary folder.

What the README's "Installing into a middleware" section tells a user to do,
done for real: a new virtualenv, `pip install <the project>` (a real,
non-editable install: the package must carry its templates and static files),
`django-admin startproject`, the settings and URL lines the README gives, a
host app (the toy middleware of tests/toyhost, copied in as the top-level
package `toyhost`, with `VIEWSTATS_HOST` naming its Host), `migrate`,
`check`, then one process that ingests viewing over the HTTP API (push and
batch), runs the popularity and dynamics commands and opens the admin's
"Dynamics of subscribers" tab. Nothing of the checkout is importable there:
only the installed packages are.

Offline and fast: the new virtualenv is made without pip of its own and sees
the dependencies of the interpreter running this test through a .pth file
(so nothing is downloaded for them); that interpreter's pip installs the
project into it (`pip --python <venv>/bin/python install --no-deps <path>`).
The build backend (setuptools + wheel) comes through the same .pth file when
it can build a wheel without isolation, else pip's build isolation fetches it
from the configured package index. The checkout is copied first, because pip
builds in the source tree and would otherwise write build/ and *.egg-info
into it.

Per run: every file is under tmp_path; the embedded MongoDB engine lives in
the scenario's own process; the smartystats run locks get a per-run prefix
and directory; no port is opened.

Select it alone with `pytest tests/test_fresh_install.py` (or `-k fresh_install`).
"""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from importlib.util import find_spec
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Importable top-level modules the installed project needs at run time
# (install_requires and what they pull in).
RUNTIME_MODULES = ("django", "asgiref", "sqlparse", "pymongo", "bson", "mongomock_ng", "django_rq",
                   "rq", "redis", "user_agents", "ua_parser", "maxminddb")

# Never copied: virtualenvs, VCS data, build output, caches, local databases.
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules", "test-output", "*.sqlite3",
    "staticfiles")

# Environment variables of the test process that must not reach the new project.
DROPPED_ENV = ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH",
               "PYTHONUSERBASE", "VIRTUAL_ENV", "CONDA_PREFIX", "__PYVENV_LAUNCHER__")

SETTINGS_LINES = """
# --- the statistics suite, as the README's install section says -------------
INSTALLED_APPS += ["django_rq", "viewstats", "smartystats", "toyhost"]
VIEWSTATS_HOST = "toyhost.host.ToyHost"
RQ_QUEUES = {{"statistics": {{"URL": "redis://127.0.0.1:6379/0"}}}}
USE_TZ = True
ALLOWED_HOSTS = ["localhost", "testserver"]

# --- this test only: keep concurrent runs apart ------------------------------
SMARTYSTATS_LOCK_DIR = {lock_dir!r}
SMARTYSTATS_LOCK_PREFIX = {lock_prefix!r}
"""

URLS_LINES = """
# --- the statistics suite, as the README's install section says -------------
from django.urls import include  # noqa: E402

urlpatterns += [
    path("viewstats/", include("viewstats.urls")),
    path("smartystats/", include("smartystats.urls")),
    path("django-rq/", include("django_rq.urls")),
]
"""

PROBE = """
import json, sys, sysconfig
import django, smartystats, tvmiddleware, viewstats
print(json.dumps({"viewstats": viewstats.__file__, "smartystats": smartystats.__file__,
                  "tvmiddleware": tvmiddleware.__file__, "django": django.get_version(),
                  "purelib": sysconfig.get_paths()["purelib"], "sys_path": sys.path}))
"""

# Runs inside the new project (cwd = the project), in ONE process: the
# embedded MongoDB engine keeps its data per process.
SCENARIO = r'''
"""Ingest viewing, run the commands, open the dynamics tab: one process."""
import io
import json
import os
import sys
from datetime import datetime, timedelta, timezone

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mw.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

import viewstats  # noqa: E402
from toyhost.builder import ToyBuilder  # noqa: E402
from toyhost.host import ToyHost  # noqa: E402
from viewstats import store  # noqa: E402

NAME = sys.argv[1]
UA = "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7233) AppleWebKit/537.36 (KHTML, like Gecko)"


def iso(t):
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(command, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue()


now = datetime.now(timezone.utc).replace(microsecond=0)
today = now.replace(hour=0, minute=0, second=0)
# The popularity window is whole UTC days before today: the batch goes into yesterday, and the
# sorting counts 2 days so that it still does if the date changes while this runs.
noon = today - timedelta(hours=12)

b = ToyBuilder()
op = b.operator(NAME)
b.device_type(op, "android_stb", collection_enabled=True)
basic = b.tariff(op, "Basic")
news = b.category(op, "News")
ch1, ch2, ch3 = (b.channel(op, f"Channel {n}", n, [news]) for n in (1, 2, 3))
for ch in (ch1, ch2, ch3):  # one programme per channel, on air since yesterday and now
    b.programme(op, ch, today - timedelta(days=1), now + timedelta(hours=2), f"All day on {ch}")
customer = b.customer(op, now - timedelta(days=40))
acc1 = b.account(op, customer, now - timedelta(days=40), [basic])
acc2 = b.account(op, customer, now - timedelta(days=3), [basic])
authkey = b.login(op, acc1, "android_stb", "uid-1")
b.payment(op, customer if customer is not None else acc1, 9.99, "EUR", now - timedelta(hours=1))

user = get_user_model().objects.create_superuser("admin", "admin@example.invalid", "not-a-secret")

# Devices and apps send no CSRF token: the APIs must not need one.
client = Client(enforce_csrf_checks=True, HTTP_HOST="localhost")

push = client.get("/viewstats/api/stat/push", {"authkey": authkey, "client_id": op, "channel_id": ch3,
                                               "channel_session": 1}, HTTP_USER_AGENT=UA)
batch_items = [
    {"id": "fresh-1", "channel_id": ch3, "start": iso(noon), "end": iso(noon + timedelta(minutes=40))},
    {"id": "fresh-2", "channel_id": ch2, "start": iso(noon + timedelta(hours=1)),
     "end": iso(noon + timedelta(hours=1, minutes=20))},
]
batch = client.post("/viewstats/api/stat/batch", json.dumps(batch_items), content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {authkey}", HTTP_USER_AGENT=UA)

sorting_out = run("create_channel_sorting_by_popularity", f"--client_id={op}", "--days_number=2",
                  "--criterion=watch", "--format=json")
sorting = json.loads(sorting_out)["results"][0]
max_online_out = run("cache_max_online", f"--client_id={op}")
dynamic_out = run("cache_customers_dynamic", f"--client_id={op}")
save_stats_out = run("save_stats", f"--client_id={op}")

client.force_login(user)
tab = client.get("/admin/smartystats/dynamics/", {"client_id": op})
index = client.get("/admin/")
data = client.get("/smartystats/api/dynamics", {"client_id": op})
stored = [s for s in ToyHost().channel_sortings(op) if s.id == sorting["id"]]

summary = {
    "viewstats_file": viewstats.__file__,
    "crossed_midnight": datetime.now(timezone.utc).date() != now.date(),
    "client_id": op,
    "channels": [ch1, ch2, ch3],
    "push": {"status": push.status_code, "body": push.content.decode(errors="replace")},
    "batch": {"status": batch.status_code, "body": batch.content.decode(errors="replace")},
    "sessions_stored": store.sessions().count_documents({"client_id": op}),
    "sorting": {"id": sorting["id"], "created": sorting["created"],
                "counted_sessions": sorting["counted_sessions"],
                "order": [item["id"] for item in sorting["items"]],
                "stored_order": list(stored[0].item_ids) if stored else None},
    "commands": {"cache_max_online": max_online_out, "cache_customers_dynamic": dynamic_out,
                 "save_stats": save_stats_out},
    "dynamics_tab": {"status": tab.status_code, "has_name": NAME in tab.content.decode(errors="replace")},
    "admin_index": index.status_code,
    "dynamics_json": ({"status": 200, **{k: data.json().get(k) for k in ("snapshot", "online_now", "widgets")}}
                      if data.status_code == 200 else
                      {"status": data.status_code, "body": data.content.decode(errors="replace")}),
}
print("SUMMARY " + json.dumps(summary, default=str))
'''


def _fail(message):
    pytest.fail(message, pytrace=False)


def _tail(text, lines=60):
    return "\n".join((text or "").splitlines()[-lines:])


def _run(cmd, *, cwd, env, timeout, what):
    started = time.monotonic()
    try:
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        _fail(f"{what}: no answer after {timeout} s\n$ {' '.join(map(str, cmd))}\n"
              f"--- stdout ---\n{_tail(exc.stdout if isinstance(exc.stdout, str) else '')}\n"
              f"--- stderr ---\n{_tail(exc.stderr if isinstance(exc.stderr, str) else '')}")
    except OSError as exc:
        _fail(f"{what}: cannot run {cmd[0]}: {exc}")
    if proc.returncode != 0:
        _fail(f"{what}: exit {proc.returncode} after {time.monotonic() - started:.1f} s\n"
              f"$ {' '.join(map(str, cmd))}  (cwd {cwd})\n"
              f"--- stdout ---\n{_tail(proc.stdout)}\n--- stderr ---\n{_tail(proc.stderr)}")
    return proc


def _dependency_dirs():
    """The directories the test interpreter imports the runtime dependencies from."""
    dirs, missing = [], []
    for name in RUNTIME_MODULES:
        spec = find_spec(name)
        if spec is None or not spec.origin:
            missing.append(name)
            continue
        origin = Path(spec.origin).resolve()
        parent = origin.parent.parent if spec.submodule_search_locations is not None else origin.parent
        if parent not in dirs:
            dirs.append(parent)
    if missing:
        _fail(f"the interpreter running the tests ({sys.executable}) lacks {', '.join(missing)}; "
              f"install the project with its test extras first (`make install`)")
    inside = [d for d in dirs if d == ROOT or ROOT in d.parents and ".venv" not in d.parts]
    if inside:
        _fail(f"dependencies resolve from the checkout itself ({inside}); the fresh install would "
              f"see the checkout's sources")
    return dirs


def _clean_env(venv):
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               PYTHONNOUSERSITE="1", PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _can_build_wheels_offline(python, env, cwd):
    """setuptools in the venv with bdist_wheel: `wheel` importable, or setuptools >= 70.1."""
    code = ("import importlib.util, setuptools; v = tuple(int(p) for p in setuptools.__version__"
            ".split('.')[:2]); print(int(importlib.util.find_spec('wheel') is not None or v >= (70, 1)))")
    proc = subprocess.run([str(python), "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    return proc.returncode == 0 and proc.stdout.strip() == "1"


def _copy_host_app(project):
    """tests/toyhost -> <project>/toyhost, the top-level package `toyhost`, unchanged."""
    target = project / "toyhost"
    shutil.copytree(ROOT / "tests" / "toyhost", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    stale = [str(p.relative_to(target)) for p in sorted(target.rglob("*.py")) if "tests.toyhost." in p.read_text()]
    assert not stale, f"tests/toyhost names itself `tests.toyhost` in {stale}: use relative imports"
    return target


def test_fresh_install_into_a_new_project(tmp_path):
    started = time.monotonic()
    timings = {}

    def lap(name):
        timings[name] = round(time.monotonic() - started, 1)

    run_id = uuid.uuid4().hex[:12]
    venv, src, project = tmp_path / "venv", tmp_path / "src", tmp_path / "mw"
    dep_dirs = _dependency_dirs()
    # The checkout as a user would have it; pip builds in the source tree, so not in ours.
    shutil.copytree(ROOT, src, ignore=COPY_IGNORE)
    for needed in ("pyproject.toml", "setup.cfg", "README.md", "viewstats", "smartystats"):
        assert (src / needed).exists(), f"the copied source lacks {needed}"

    # 1. A new virtualenv that sees the dependencies, then `pip install <path>` of the project.
    env = _clean_env(venv)
    # Without pip of its own (ensurepip costs seconds): the test's pip installs into it with --python.
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp_path, env=env, timeout=120,
         what="python -m venv")
    python = venv / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=tmp_path, env=env, timeout=60, what="locate site-packages").stdout.strip())
    (purelib / "_fresh_install_deps.pth").write_text("".join(f"{d}\n" for d in dep_dirs))
    lap("venv")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-input",
           "--retries", "2", "--timeout", "60"]
    offline_build = _can_build_wheels_offline(python, env, tmp_path)
    if offline_build:
        pip.append("--no-build-isolation")
    _run([*pip, src], cwd=tmp_path, env=env, timeout=300,
         what="pip install of the project" + ("" if offline_build else
                                              " (setuptools + wheel fetched by pip's build isolation)"))
    lap("pip install")

    # 2. django-admin startproject (the venv has no django-admin script of its own: Django
    #    comes through the .pth, so `python -m django` is the same program).
    project.mkdir()
    _run([python, "-m", "django", "startproject", "mw", "."], cwd=project, env=env, timeout=60,
         what="django-admin startproject")

    # 3. The host app.
    _copy_host_app(project)

    # 4. Settings and URLs, as the README says.
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir()
    settings_py, urls_py = project / "mw" / "settings.py", project / "mw" / "urls.py"
    with settings_py.open("a") as f:
        f.write(SETTINGS_LINES.format(lock_dir=str(lock_dir), lock_prefix=f"fresh-install-{run_id}:"))
    with urls_py.open("a") as f:
        f.write(URLS_LINES)
    assert "tvmiddleware" not in settings_py.read_text()

    # The installed packages, not the checkout, are what the project imports.
    probe = json.loads(_run([python, "-c", PROBE], cwd=project, env=env, timeout=60,
                            what="import the installed packages").stdout)
    site = Path(probe["purelib"]).resolve()
    for package in ("viewstats", "smartystats", "tvmiddleware"):
        where = Path(probe[package]).resolve()
        assert site in where.parents, f"{package} imports from {where}, not from the new venv ({site})"
        assert ROOT not in where.parents, f"{package} imports from the checkout: {where}"
    assert not any(p and Path(p).resolve() == ROOT for p in probe["sys_path"]), probe["sys_path"]
    for data_file in ("smartystats/templates/smartystats/dynamics.html",
                      "viewstats/static/viewstats/chart.umd.min.js"):
        assert (site / data_file).is_file(), f"the wheel lacks package data {data_file}"
    lap("startproject + settings")

    # 5. migrate, check, a command's --help.
    manage = [python, "manage.py"]
    _run([*manage, "migrate", "--noinput"], cwd=project, env=env, timeout=180, what="manage.py migrate")
    _run([*manage, "check"], cwd=project, env=env, timeout=120, what="manage.py check")
    helped = _run([*manage, "create_channel_sorting_by_popularity", "--help"], cwd=project, env=env,
                  timeout=120, what="create_channel_sorting_by_popularity --help")
    assert "--days_number" in helped.stdout and "--criterion" in helped.stdout, helped.stdout
    lap("migrate + check + help")

    # 6. Ingest, commands, the dynamics tab: one process (the embedded MongoDB is per process).
    name = f"Fresh Install TV {run_id}"
    (project / "scenario.py").write_text(SCENARIO)
    proc = _run([python, "scenario.py", name], cwd=project, env=env, timeout=180, what="scenario.py")
    lap("scenario")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("SUMMARY ")]
    assert lines, f"scenario.py printed no summary\n{_tail(proc.stdout)}\n{_tail(proc.stderr)}"
    summary = json.loads(lines[-1][len("SUMMARY "):])
    context = json.dumps(summary, indent=1)
    print(context)  # shown with -s, and by pytest when an assertion below fails

    assert ROOT not in Path(summary["viewstats_file"]).resolve().parents, context
    assert summary["push"]["status"] == 200, context
    assert json.loads(summary["push"]["body"])["error"] == 0, context
    assert summary["batch"]["status"] == 200, context
    batch = json.loads(summary["batch"]["body"])
    assert batch["accepted"] == 2 and not batch["rejected"], context
    assert summary["sessions_stored"] == 3, context  # 1 push + 2 batch items

    ch1, ch2, ch3 = summary["channels"]
    sorting = summary["sorting"]
    # Today's push is outside the window (unless the date changed meanwhile).
    assert sorting["created"] and sorting["counted_sessions"] == 2 + summary["crossed_midnight"], context
    assert sorting["order"] == [ch3, ch2, ch1], context  # 40 min, 20 min, unwatched
    assert sorting["stored_order"] == [ch3, ch2, ch1], context  # what the host saved

    assert summary["dynamics_tab"]["status"] == 200, context
    assert summary["dynamics_tab"]["has_name"], context
    assert summary["admin_index"] == 200, context
    dynamics = summary["dynamics_json"]
    assert dynamics["status"] == 200, context
    assert dynamics["snapshot"]["accounts"]["active"] == 2, context  # save_stats
    assert dynamics["widgets"]["accounts_active"]["value"] == 2, context  # cache_customers_dynamic

    elapsed = time.monotonic() - started
    print(f"fresh install: {elapsed:.1f} s {timings}")
