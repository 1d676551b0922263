"""A second, deliberately different host for the statistics suite.

Its own tables and names (tenants, subscribers, boxes, streams, broadcasts,
packages, charges), no customer layer, subscriber and box ids that are
strings, a status history kept as change events and a package history kept
as snapshots of sets. The suite runs its contract kit and its main feature
tests against it to prove nothing in viewstats or smartystats assumes the
reference host's shape. The fresh-install test copies this folder into a new
project as the app `toyhost`.
"""
