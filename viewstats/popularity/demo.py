"""Run the three popularity commands for one client and show their top 5."""
import io
import json

from django.core.management import call_command

COMMANDS = [
    ("create_channel_sorting_by_popularity", ["--days_number=7", "--criterion=watch"]),
    ("create_channel_selection_by_popularity",
     ["--days_number=7", "--criterion=median_watch_time", "--selection_size=10"]),
    ("create_epg_selection_by_popularity", ["--days_number=7", "--selection_size=10"]),
]


def demo_run(client_id, stdout=None, top=5):
    """Run all three commands through call_command; return their JSON results.

    Runs inline whatever SMARTY_USE_RQ says would need a worker, so pass
    settings with RQ off (the demo's default). Prints each result's top `top`.
    """
    results = {}
    for command, args in COMMANDS:
        buffer = io.StringIO()
        call_command(command, f"--client_id={client_id}", *args, "--format=json", stdout=buffer)
        payload = json.loads(buffer.getvalue())
        if "results" not in payload:
            raise RuntimeError(f"{command} queued its work instead of running it: {payload}")
        [result] = payload["results"]
        results[command] = result
        if stdout is not None:
            stdout.write(f"{command}: \"{result['name']}\" (#{result['id']}), "
                         f"window {result['window']['start']} .. {result['window']['end']}\n")
            for item in result["items"][:top]:
                metrics = ", ".join(f"{k}={v}" for k, v in item["metrics"].items() if v is not None)
                stdout.write(f"  {item['position']}. {item['name']}  {metrics}\n")
    return results
