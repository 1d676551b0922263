"""Popularity channel sortings, channel selections and EPG selections.

options.py parses and validates the commands' options, window.py defines the
viewing window, pipelines.py holds the MongoDB aggregations, ranking.py the
order and the fill, service.py builds and stores one client's result,
jobs.py is what RQ runs, cli.py the commands' shared front end and demo.py
a walk through all three for the demo.
"""


def demo_run(client_id, stdout=None, **kwargs):
    from .demo import demo_run as run

    return run(client_id, stdout=stdout, **kwargs)
