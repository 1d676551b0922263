"""System checks: configuration mistakes an operator should see at deploy time."""
import os

from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from . import host, store
from .conf import setting


@register(Tags.compatibility, deploy=True)
def check_mongodb(app_configs, **kwargs):
    # An error, not a warning: with the embedded engine every process (each
    # WSGI worker, each cron run) has its own empty database, so a deployment
    # would accept a resent batch twice and compute its lists from nothing.
    if store.is_embedded():
        return [Error("No MongoDB configured: viewing statistics go to the embedded in-process "
                      "engine, which is for the demo and tests only. Every process has its own "
                      "data and nothing is kept on restart.",
                      hint="Set MONGODB_URI (or MONGODB_HOST/MONGODB_PORT/MONGODB_NAME).",
                      id="viewstats.E004")]
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
    for name in store.RETENTION_SETTING.values():
        days = setting(name)
        if days is not None and (not isinstance(days, int) or isinstance(days, bool) or days <= 0):
            errors.append(Error(f"{name} must be a positive integer or None.", id="viewstats.E002"))
    return errors


@register()
def check_monitoring(app_configs, **kwargs):
    """The monitoring settings (viewstats/metrics.py, viewstats/logs.py)."""
    from .logs import IP_MODES
    from .metrics import allowed_networks

    errors = []
    bad = [entry for entry, network in allowed_networks(setting("VIEWSTATS_METRICS_ALLOWED_IPS"))
           if network is None]
    if bad:
        errors.append(Error(f"VIEWSTATS_METRICS_ALLOWED_IPS: {', '.join(map(repr, bad))} is not an IP "
                            f"address or network; /viewstats/metrics ignores it.",
                            hint="List addresses or CIDR networks, e.g. ['127.0.0.1', '10.1.2.0/24'].",
                            id="viewstats.E005"))
    if setting("VIEWSTATS_LOG_IP") not in IP_MODES:
        errors.append(Error(f"VIEWSTATS_LOG_IP must be one of {', '.join(IP_MODES)}; logs truncate "
                            f"addresses meanwhile.", id="viewstats.E006"))
    return errors
