"""The contract kit (viewstats.testing) against both hosts this repo has."""
import pytest

from tests.reference_builder import ReferenceBuilder
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
