"""Simulated subscribers watching TV for a week, sent through the real HTTP API.

Set-top boxes (MAG, Dune) speak Smarty's stat/push: a push when a channel
starts and one every heartbeat while it plays. Apps and TVs buffer finished
intervals and upload them in batches. Every device logs in through the
middleware first and reads `reports_enabled` from its settings.

The plan is generated first, then replayed in time order against a server
whose clock follows the simulation, so a week passes in a minute or two.
"""
import heapq
import itertools
import json
import math
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

PUSH_DEVICES = {"mag", "dune"}
BATCH_FLUSH_ITEMS = 25
USER_AGENTS = {
    "mag": ("Mozilla/5.0 (QtEmbedded; U; Linux; C) AppleWebKit/533.3 (KHTML, like Gecko) MAG200 stbapp ver: 2 "
            "rev: 250 Safari/533.3", "Model: {model}; Link: Ethernet"),
    "dune": ("Mozilla/5.0 (Linux; Android 9; Dune HD Pro 4K II Build/PI) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/91.0.4472.164 Safari/537.36", ""),
    "android_stb": ("Mozilla/5.0 (Linux; Android 9; X96 Max Build/PPR1.180610.011) AppleWebKit/537.36 (KHTML, "
                    "like Gecko) Version/4.0 Chrome/74.0.3729.186 Safari/537.36", ""),
    "tizen_tv": ("Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 "
                 "TV Safari/537.36", ""),
    "samsung_smart_tv": ("Mozilla/5.0 (SMART-TV; Linux; Tizen 4.0) AppleWebKit/538.1 (KHTML, like Gecko) "
                         "Version/4.0 TV Safari/538.1", ""),
    "lg_webos": ("Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 "
                 "Safari/537.36 WebAppManager", ""),
    "kodi": ("Kodi/19.3 (Linux; Android 9.0; MAG425A Build/PPR1.180610.011) Android/9.0.0 Sys_CPU/armv8l "
             "App_Bitness/32 Version/19.3-Git:20211024-a4dcbcd77b", ""),
    "ios": ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148", ""),
    "android": ("Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/119.0.0.0 Mobile Safari/537.36", ""),
    "pc": ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 "
           "Safari/537.36", ""),
}
MAG_MODELS = ["MAG250", "MAG254", "MAG322", "MAG420", "MAG524"]
# The two planted suspects (plan_suspects): a login shared by households in
# several networks, one of them abroad, and a restreamer: a stream proxy
# whose User-Agent viewstats classifies as ua.type "restreamer" (Lavf or VLC
# would be a "player_app"), pulling many channels around the clock.
SHARED_HOUSEHOLDS = ("DE", "DE", "US")
RESTREAMER_UA = "xTeVe/2.2.0.200"
RESTREAMER_CHANNELS = 10
# Viewers' networks; the demo's GeoIP file maps these to countries.
COUNTRY_NETWORKS = {"DE": "85.10.0.0/16", "GB": "81.2.0.0/16", "FR": "90.60.0.0/16", "NL": "94.208.0.0/16",
                    "PL": "83.20.0.0/16", "US": "23.40.0.0/16"}
COUNTRY_WEIGHTS = {"DE": 40, "GB": 15, "FR": 10, "NL": 10, "PL": 10, "US": 5, None: 10}
# Share of sittings starting in each hour of the day (evening prime time).
HOUR_PROFILE = [1, 0.5, 0.3, 0.2, 0.2, 0.3, 1, 2.5, 3, 2, 1.5, 1.5, 2, 2, 1.5, 1.5, 2, 3, 4.5, 6.5, 7.5, 7, 5, 2.5]


@dataclass
class Device:
    account: object
    system_name: str
    ip: str
    user_agent: str
    x_user_agent: str
    authkey: str = ""
    reports_enabled: bool = False
    channel_session: itertools.count = field(default_factory=lambda: itertools.count(1))
    buffer: list = field(default_factory=list)
    rng: random.Random = None  # the planted suspects' own generator (the others use the simulation's)


@dataclass
class Tally:
    requests: Counter = field(default_factory=Counter)
    push_errors: Counter = field(default_factory=Counter)
    batch_status: Counter = field(default_factory=Counter)
    accepted: int = 0
    duplicates: int = 0
    rejects: Counter = field(default_factory=Counter)


class Simulation:
    def __init__(self, rng, http, operator, clock, *, start, days, heartbeat):
        self.rng, self.http, self.op, self.clock = rng, http, operator, clock
        self.start, self.end = start, start + timedelta(days=days)
        self.heartbeat = heartbeat
        self.tally = Tally()
        self.events = []  # heap of (time, seq, action, args)
        self.seq = itertools.count()
        self.devices = []

    # --- setup through the middleware API --------------------------------
    def login_devices(self):
        for account, systems in self.op.accounts:
            country = self.rng.choices(list(COUNTRY_WEIGHTS), weights=list(COUNTRY_WEIGHTS.values()))[0]
            ip = self._ip(country)
            for system_name in systems:
                ua, xua = USER_AGENTS[system_name]
                device = Device(account, system_name, ip, ua, xua.format(model=self.rng.choice(MAG_MODELS)))
                self._sign_in(device, self.rng)

    def _sign_in(self, device, rng):
        client, account = self.op.client, device.account
        params = {"client_id": client.id, "api_key": client.api_key, "device": device.system_name}
        login = self.http.get("/tvmiddleware/api/login/", {
            **params, "abonement": account.abonement, "password": account.password,
            "device_uid": uuid.UUID(int=rng.getrandbits(128)).hex[:12]})
        settings = self.http.get("/tvmiddleware/api/portal/settings/list/", params)
        self.tally.requests["login"] += 1
        self.tally.requests["settings"] += 1
        device.authkey = login["authkey"]
        device.reports_enabled = bool(settings["reports_enabled"])
        self.devices.append(device)
        return device

    def _ip(self, country):
        if country is None:  # a network the GeoIP file does not know
            return f"198.18.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        base = COUNTRY_NETWORKS[country].split(".")
        return f"{base[0]}.{base[1]}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    # --- the plan --------------------------------------------------------
    def plan(self):
        allowed = self.allowed = {}
        channel_tariffs = [set(ch.tariffs.values_list("id", flat=True)) for ch in self.op.channels]
        for account, _ in self.op.accounts:
            tariff_ids = set(account.tariffs.values_list("id", flat=True))
            allowed[account.id] = [i for i, ids in enumerate(channel_tariffs) if tariff_ids & ids] or [0]
        appetite = {account.id: self.rng.lognormvariate(0, 0.6) for account, _ in self.op.accounts}
        for device in self.devices:
            account = device.account
            day = self.start
            busy_until = self.start
            while day < self.end:
                starts = sorted(
                    day + timedelta(hours=self.rng.choices(range(24), weights=HOUR_PROFILE)[0],
                                    seconds=self.rng.randrange(3600))
                    for _ in range(self._poisson(0.9 * appetite[account.id])))
                for t in starts:
                    if t < busy_until:
                        continue  # one device plays one thing at a time
                    if account.deactivation_date and t >= account.deactivation_date:
                        continue
                    busy_until = self._sitting(device, t, allowed[account.id]) + timedelta(minutes=1)
                day += timedelta(days=1)
            if device.system_name not in PUSH_DEVICES:
                self._at(self.end, "flush", device)

    def _poisson(self, lam):
        threshold, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= threshold:
                return k
            k += 1

    def _sitting(self, device, t, channels):
        """A stretch of viewing: some zapping, then watching, maybe more zapping."""
        weights = [self.op.channel_weights[i] for i in channels]
        previous = None
        for _ in range(self.rng.choice((1, 1, 2, 3, 4, 6))):
            channel = self.op.channels[self.rng.choices(channels, weights=weights)[0]]
            if self.rng.random() < 0.45:
                seconds = self.rng.randint(5, 150)  # zapping
            else:
                seconds = int(min(4 * 3600, self.rng.lognormvariate(math.log(1500), 0.9)))
            if t + timedelta(seconds=seconds) > self.end:
                break
            archive = device.system_name not in PUSH_DEVICES and self.rng.random() < 0.08
            if device.system_name in PUSH_DEVICES:
                self._plan_pushes(device, channel, t, seconds, previous)
            else:
                self._at(t + timedelta(seconds=seconds), "interval", device, channel, t, seconds, archive)
            previous = channel
            t += timedelta(seconds=seconds)
        return t

    def plan_suspects(self, seed):
        """Plant a shared login and a restreamer, with a random generator of their own so
        that everybody else's viewing stays as it was. Returns lines naming them."""
        rng = random.Random(seed)
        single = [(a, s) for a, s in self.op.accounts
                  if a.active and not a.deactivation_date and len(s) == 1 and len(self.allowed[a.id]) > 3]
        (shared, _), (restreamer, _) = single[0], single[1]
        # The shared login: three more households in other networks, one in the US, all
        # watching most evenings within minutes of each other on the one login's app (the
        # account's own devices go on as planned; their random generator is left alone).
        home = [d for d in self.devices if d.account.id == shared.id]
        households = []
        for i, country in enumerate(SHARED_HOUSEHOLDS):
            base = COUNTRY_NETWORKS[country].split(".")
            ip = f"{base[0]}.{base[1]}.{200 + i}.{rng.randrange(1, 255)}"
            ua, _ = USER_AGENTS["android"]
            households.append(self._sign_in(Device(shared, "android", ip, ua, "", rng=rng), rng))
        day = self.start
        while day < self.end - timedelta(days=1):
            if rng.random() < 0.8:
                t = day + timedelta(hours=20, minutes=rng.randrange(30))
                for device in households:
                    channel = self.op.channels[rng.choice(self.allowed[shared.id])]
                    self._watch(device, t + timedelta(minutes=rng.randrange(10)), channel,
                                rng.randrange(50, 110) * 60)
            day += timedelta(days=1)
        # The restreamer: one address, RESTREAMER_CHANNELS channels at once, around the clock.
        proxy = self._sign_in(Device(restreamer, "android_stb", f"81.2.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                                     RESTREAMER_UA, "", rng=rng), rng)
        for channel_index in rng.sample(self.allowed[restreamer.id],
                                        min(RESTREAMER_CHANNELS, len(self.allowed[restreamer.id]))):
            t = self.start + timedelta(seconds=rng.randrange(600))
            while t < self.end - timedelta(hours=4):
                seconds = rng.randrange(1, 4) * 3600
                self._at(t + timedelta(seconds=seconds), "interval", proxy, self.op.channels[channel_index], t,
                         seconds, False)
                t += timedelta(seconds=seconds + rng.randrange(5, 60))
        for device in households + [proxy]:
            self._at(self.end, "flush", device)
        return [
            f"shared login {shared.abonement}: its home ({', '.join(sorted({d.ip for d in home}))}) and "
            f"{len(households)} more households watching at once most evenings "
            f"({', '.join(f'{d.ip} {c}' for d, c in zip(households, SHARED_HOUSEHOLDS))})",
            f"restreamer {restreamer.abonement}: {RESTREAMER_UA} at {proxy.ip}, "
            f"{min(RESTREAMER_CHANNELS, len(self.allowed[restreamer.id]))} channels at once around the clock"]

    def _watch(self, device, t, channel, seconds):
        if t + timedelta(seconds=seconds) > self.end:
            return
        if device.system_name in PUSH_DEVICES:
            self._plan_pushes(device, channel, t, seconds, None)
        else:
            self._at(t + timedelta(seconds=seconds), "interval", device, channel, t, seconds, False)

    def _plan_pushes(self, device, channel, t, seconds, previous):
        session = next(device.channel_session)
        offset = 0
        while offset <= seconds:
            self._at(t + timedelta(seconds=offset), "push", device, channel, session,
                     previous if offset == 0 else None)
            offset += self.heartbeat

    def _at(self, t, action, *args):
        heapq.heappush(self.events, (t, next(self.seq), action, args))

    # --- replay ----------------------------------------------------------
    def run(self, progress=None):
        total = len(self.events)
        done = 0
        while self.events:
            t, _, action, args = heapq.heappop(self.events)
            self.clock.now = t
            getattr(self, f"_do_{action}")(t, *args)
            done += 1
            if progress and done % 5000 == 0:
                progress(done, total)

    def _headers(self, device):
        headers = {"User-Agent": device.user_agent, "X-Forwarded-For": device.ip}
        if device.x_user_agent:
            headers["X-User-Agent"] = device.x_user_agent
        return headers

    def _do_push(self, t, device, channel, session, previous):
        if not device.reports_enabled:
            return
        query = {"channel_id": channel.id, "channel_session": session, "authkey": device.authkey,
                 "client_id": self.op.client.id, "device": device.system_name}
        if previous is not None:
            query["previous_channel_id"] = previous.id
        body = self.http.get("/viewstats/api/stat/push", query, self._headers(device))
        self.tally.requests["push"] += 1
        self.tally.push_errors[body["error"]] += 1

    def _do_interval(self, t, device, channel, start, seconds, archive):
        if not device.reports_enabled:
            return
        rng = device.rng or self.rng
        item = {"id": str(uuid.UUID(int=rng.getrandbits(128))), "channel_id": channel.id,
                "start": start.isoformat(), "end": (start + timedelta(seconds=seconds)).isoformat()}
        if archive:
            programme = channel.programmes.filter(end__lte=start).order_by("-begin").first()
            if programme is None:
                return
            item.update(type="archive", program_id=programme.id)
        device.buffer.append(item)
        if len(device.buffer) >= BATCH_FLUSH_ITEMS or rng.random() < 0.15:
            self._do_flush(t, device)

    def _do_flush(self, t, device):
        if not device.buffer:
            return
        items, device.buffer = device.buffer, []
        self.send_batch(device, items)

    def send_batch(self, device, items):
        status, body = self.http.post_json("/viewstats/api/stat/batch", items,
                                           {**self._headers(device), "Authorization": f"Bearer {device.authkey}"})
        self.tally.requests["batch"] += 1
        self.tally.batch_status[status] += 1
        if status == 200:
            self.tally.accepted += body["accepted"]
            self.tally.duplicates += len(body["duplicates"])
            for reject in body["rejected"]:
                for reason in reject["reasons"]:
                    self.tally.rejects[reason.split(":", 1)[0]] += 1
        return status, body

    # --- deliberate trouble ----------------------------------------------
    def misbehave(self):
        """A resent batch, bad input, and a device type with collection off."""
        batch_devices = [d for d in self.devices if d.reports_enabled and d.system_name not in PUSH_DEVICES]
        push_devices = [d for d in self.devices if d.reports_enabled and d.system_name in PUSH_DEVICES]
        t = self.end - timedelta(hours=2)
        self.clock.now = self.end
        device = batch_devices[0]
        channel = self.op.channels[0]
        good = [{"id": f"resend-{i}", "channel_id": channel.id,
                 "start": (t + timedelta(minutes=10 * i)).isoformat(),
                 "end": (t + timedelta(minutes=10 * i + 7)).isoformat()} for i in range(6)]
        for _ in range(3):  # a flaky network: the app never saw the answer
            self.send_batch(device, good)
        bad = [
            {"id": "bad-channel", "channel_id": 10 ** 9, "start": t.isoformat(),
             "end": (t + timedelta(minutes=5)).isoformat()},
            {"id": "backwards", "channel_id": channel.id, "start": t.isoformat(),
             "end": (t - timedelta(minutes=5)).isoformat()},
            {"id": "no-offset", "channel_id": channel.id, "start": "2026-01-01T10:00:00",
             "end": t.isoformat()},
            {"channel_id": channel.id, "start": t.isoformat(), "end": (t + timedelta(minutes=1)).isoformat()},
            {"id": "future", "channel_id": channel.id, "start": (self.end + timedelta(hours=3)).isoformat(),
             "end": (self.end + timedelta(hours=4)).isoformat()},
            {"id": "valid-among-bad", "channel_id": channel.id, "start": t.isoformat(),
             "end": (t + timedelta(minutes=3)).isoformat()},
        ]
        self.send_batch(device, bad)
        status, _ = self.http.post_raw("/viewstats/api/stat/batch", b"[{not json",
                                       {"Authorization": f"Bearer {device.authkey}",
                                        "Content-Type": "application/json"})
        self.tally.batch_status[status] += 1
        if push_devices:
            box = push_devices[0]
            for query in ({"channel_session": 1}, {"channel_id": 10 ** 9, "channel_session": 1},
                          {"channel_id": channel.id, "channel_session": "x"}):
                body = self.http.get("/viewstats/api/stat/push",
                                     {"authkey": box.authkey, "client_id": self.op.client.id, **query},
                                     self._headers(box))
                self.tally.push_errors[body["error"]] += 1
        for device in [d for d in self.devices if not d.reports_enabled][:3]:
            # An outdated app that ignores reports_enabled.
            status, _ = self.http.post_json("/viewstats/api/stat/batch", good[:1],
                                            {"Authorization": f"Bearer {device.authkey}"})
            self.tally.batch_status[status] += 1


def summarize(http_tally, sessions_by):
    """Lines of the ingestion summary (sessions_by: dimension -> Counter)."""
    t = http_tally
    lines = [
        f"HTTP requests: {sum(t.requests.values())} "
        + ", ".join(f"{k} {v}" for k, v in sorted(t.requests.items())),
        "stat/push answers: " + ", ".join(f"error {k}: {v}" for k, v in sorted(t.push_errors.items())),
        "batch answers: " + ", ".join(f"HTTP {k}: {v}" for k, v in sorted(t.batch_status.items())),
        f"batch items accepted {t.accepted}, duplicates refused {t.duplicates}",
        "rejects by reason: " + (", ".join(f"{k} {v}" for k, v in t.rejects.most_common()) or "none"),
    ]
    for dimension, counter in sessions_by.items():
        lines.append(f"sessions by {dimension}: " + ", ".join(f"{k} {v}" for k, v in counter.most_common()))
    return lines


def count_by(collection, client_id, field_path):
    counter = defaultdict(int)
    for row in collection.aggregate([{"$match": {"client_id": client_id}},
                                     {"$group": {"_id": f"${field_path}", "n": {"$sum": 1}}}]):
        counter[row["_id"] if row["_id"] is not None else "none"] += row["n"]
    return Counter(counter)
