"""The contract kit (viewstats.testing) against both hosts this repo has."""
import pytest
from django.core.checks import run_checks

from tests.reference_builder import ReferenceBuilder
from viewstats import host
from viewstats.contract import Host
from tests.toyhost.builder import ToyBuilder
from viewstats.testing import HostContractTests


class TestReferenceHost(HostContractTests):
    builder_class = ReferenceBuilder

    @pytest.fixture(autouse=True)
    def _host(self, settings):
        settings.VIEWSTATS_HOST = "tvmiddleware.stats_host.ReferenceHost"


class TestToyHost(HostContractTests):
    builder_class = ToyBuilder

    @pytest.fixture(autouse=True)
    def _host(self, settings):
        settings.VIEWSTATS_HOST = "tests.toyhost.host.ToyHost"


class Incomplete(Host):
    """Leaves every method out."""


@pytest.mark.parametrize("path, words", [
    (None, "VIEWSTATS_HOST is not set"),
    ("no.such.Module", "cannot be imported"),
    ("tests.test_host_contract.TestToyHost", "not a viewstats.contract.Host subclass"),
    ("tests.test_host_contract.Incomplete", "incomplete"),
])
def test_system_check_names_a_bad_host_setting(settings, path, words):
    settings.VIEWSTATS_HOST = path
    try:
        errors = [e for e in run_checks() if e.id == "viewstats.E003"]
        assert len(errors) == 1 and words in errors[0].msg, [e.msg for e in errors]
    finally:
        host.reset()


def test_system_check_accepts_both_hosts(settings):
    for path in ("tvmiddleware.stats_host.ReferenceHost", "tests.toyhost.host.ToyHost"):
        settings.VIEWSTATS_HOST = path
        assert not [e for e in run_checks() if e.id == "viewstats.E003"]
    host.reset()
