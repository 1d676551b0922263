"""System checks: configuration mistakes an operator should see at deploy time."""
import os

from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import host, store
from .conf import setting


@register(Tags.compatibility, deploy=True)
def check_mongodb(app_configs, **kwargs):
    if store.is_embedded():
        return [Warning("No MongoDB configured: viewing statistics go to the embedded "
                        "in-process engine and are lost on restart.",
                        hint="Set MONGODB_URI or MONGODB_HOST/MONGODB_PORT/MONGODB_NAME.",
                        id="viewstats.W001")]
    return []


@register()
def check_host(app_configs, **kwargs):
    """VIEWSTATS_HOST names an importable Host implementation."""
    try:
        host.reset()
        implementation = host.get_host()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="viewstats.E003")]
    except ImportError as exc:
        return [Error(f"VIEWSTATS_HOST cannot be imported: {exc}", id="viewstats.E003")]
    except TypeError as exc:  # abstract methods left out
        return [Error(f"VIEWSTATS_HOST is incomplete: {exc}", id="viewstats.E003",
                      hint="Implement every abstract method of viewstats.contract.Host.")]
    del implementation
    return []


@register()
def check_settings(app_configs, **kwargs):
    errors = []
    path = setting("VIEWSTATS_GEOIP_PATH")
    if path and not os.path.exists(path):
        errors.append(Warning(f"VIEWSTATS_GEOIP_PATH {path!r} does not exist; every session "
                              f"will get country 'unknown'.", id="viewstats.W002"))
    heartbeat, timeout = setting("VIEWSTATS_PUSH_HEARTBEAT"), setting("VIEWSTATS_PUSH_SESSION_TIMEOUT")
    if timeout < heartbeat:
        errors.append(Error("VIEWSTATS_PUSH_SESSION_TIMEOUT is shorter than VIEWSTATS_PUSH_HEARTBEAT: "
                            "every heartbeat would open a new session.", id="viewstats.E001"))
    days = setting("VIEWSTATS_RAW_RETENTION_DAYS")
    if days is not None and (not isinstance(days, int) or days <= 0):
        errors.append(Error("VIEWSTATS_RAW_RETENTION_DAYS must be a positive integer or None.",
                            id="viewstats.E002"))
    return errors
