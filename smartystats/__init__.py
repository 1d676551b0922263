"""Subscriber dynamics: max-online, widget snapshots, daily payments, chart caches."""
