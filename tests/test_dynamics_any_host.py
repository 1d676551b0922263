"""The dynamics caches on both hosts, against the brute force of test_smartystats_dynamics."""
import pytest
from django.core.management import call_command

from smartystats.models import FillState
from tests.factories import current_builder
from tests.test_smartystats_dynamics import NOW, check_max_online, check_series, isolated_locks  # noqa: F401
from tests.worlds import generate_on

HOST_KINDS = ("reference", "toy")


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [5, 6])
def test_every_series_matches_brute_force(host_kind, seed):
    builder = current_builder()
    worlds = [generate_on(builder, builder.operator(name), now=NOW, seed=seed + i, customers=n)
              for i, (name, n) in enumerate((("Alpha", 30), ("Beta", 12)))]
    call_command("cache_customers_dynamic", time=NOW.isoformat(), stdout=None)
    for world in worlds:  # each tenant's numbers come from its own data only
        check_series(world)
        check_max_online(world)
        assert not FillState.objects.filter(client_id=world.client_id, state=FillState.STARTED).exists()
