"""A circulation stream as the province's libraries would send it, for demos, tests and benchmarks.

Branch volumes add up to about 15,000 loans a day across Banten (returns and renewals besides),
all inside opening hours; every kiosk and gate sends a heartbeat each minute while its branch is
open; and faults are injected: a kiosk or gate goes offline for a while, the online renewal
service has a bad spell, a catalogue sync fails, a gate alarms, and now and then a message
breaks the contract (it must end in the dead letters). Time is the simulation's own: events
carry it, and the service's rules judge by it, so a day can be sent in a minute.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from domain.circulation import JAKARTA, PREFIX, OpeningHours

#: (branch, share of the province's loans, kiosks, gates)
BRANCHES: tuple[tuple[str, float, int, int], ...] = (
    ("dpk-provinsi-serang", 0.22, 4, 2),
    ("kota-serang", 0.10, 2, 1),
    ("kab-serang", 0.08, 2, 1),
    ("kota-cilegon", 0.09, 2, 1),
    ("kab-pandeglang", 0.06, 1, 1),
    ("kab-lebak", 0.06, 1, 1),
    ("kab-tangerang", 0.13, 3, 1),
    ("kota-tangerang", 0.14, 3, 2),
    ("kota-tangerang-selatan", 0.12, 3, 2),
)
LOANS_PER_DAY = 15_000


def envelope(kind: str, source: str, event_id: str, at: datetime, **data: str) -> dict[str, Any]:
    """An inbound CloudEvent of type PREFIX + kind."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": PREFIX + kind,
        "time": at.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


@dataclass
class Outage:
    device: str
    kind: str
    branch: str
    until: datetime


@dataclass
class Simulator:
    start: datetime
    seed: int = 1
    loans_per_day: int = LOANS_PER_DAY
    opening_hours: OpeningHours = field(
        default_factory=lambda: OpeningHours.parse("mon-sat 08:00-16:00")
    )
    faults: bool = True
    #: share of messages that break the contract (they end in the dead letters)
    invalid_share: float = 0.001
    #: chance per open minute that some device goes offline
    outage_chance: float = 0.004
    _rng: random.Random = field(init=False)
    _seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _id(self) -> str:
        self._seq += 1
        return f"sim-{self.seed}-{self._seq}"

    def _device_event(
        self, kind: str, at: datetime, branch: str, device: str, device_kind: str, **more: str
    ) -> dict[str, Any]:
        """The kiosk monitor's message about one of a branch's kiosks or gates."""
        return envelope(
            kind,
            f"/kiosk-monitor/{branch}",
            self._id(),
            at,
            branch=branch,
            device=device,
            device_kind=device_kind,
            **more,
        )

    def devices(self) -> list[tuple[str, str, str]]:
        """(branch, device, kind) for every kiosk and gate."""
        found = []
        for branch, _, kiosks, gates in BRANCHES:
            found += [(branch, f"{branch}-kiosk-{n}", "kiosk") for n in range(1, kiosks + 1)]
            found += [(branch, f"{branch}-gate-{n}", "gate") for n in range(1, gates + 1)]
        return found

    def messages(self) -> Iterator[bytes]:
        """The stream, for ever, minute by minute of simulated time, as encoded messages."""
        for message in self.events():
            yield message if isinstance(message, bytes) else orjson.dumps(message)

    def events(self) -> Iterator[dict[str, Any] | bytes]:  # noqa: PLR0915
        rng = self._rng
        minute = self.start.replace(second=0, microsecond=0)
        open_minutes = sum(
            (c.hour * 60 + c.minute) - (o.hour * 60 + o.minute)
            for spans in self.opening_hours.spans.values()
            for o, c in spans
        ) / max(1, len(self.opening_hours.spans))
        per_minute = self.loans_per_day / max(open_minutes, 1)
        devices = self.devices()
        outages: dict[str, Outage] = {}
        renewal_trouble_until: datetime | None = None
        while True:
            is_open = self.opening_hours.open_since(minute) is not None
            batch: list[dict[str, Any] | bytes] = []
            if is_open:
                for branch, share, _, _ in BRANCHES:
                    lam = per_minute * share
                    source = f"/inlislite/{branch}"
                    kiosks = [d for b, d, k in devices if b == branch and k == "kiosk"]
                    for _ in range(_poisson(rng, lam)):
                        at = minute + timedelta(seconds=rng.random() * 60)
                        patron = f"{branch[:4].upper()}{rng.randint(1, 40_000):06d}"
                        item = f"B{rng.randint(1, 250_000):07d}"
                        kiosk = rng.choice(kiosks) if kiosks and rng.random() < 0.4 else None
                        extra = {"device": kiosk, "channel": "kiosk"} if kiosk else {}
                        if kiosk in outages:
                            extra = {"channel": "desk"}
                        failed = rng.random() < 0.02
                        why = {"reason": "membership expired"} if failed else {}
                        batch.append(
                            envelope(
                                "loan.checkout_failed" if failed else "loan.checked_out",
                                source,
                                self._id(),
                                at,
                                branch=branch,
                                patron=patron,
                                item=item,
                                **why,
                                **extra,
                            )
                        )
                    for _ in range(_poisson(rng, lam * 0.95)):
                        at = minute + timedelta(seconds=rng.random() * 60)
                        item = f"B{rng.randint(1, 250_000):07d}"
                        batch.append(
                            envelope(
                                "loan.returned", source, self._id(), at, branch=branch, item=item
                            )
                        )
                    trouble = renewal_trouble_until is not None and minute < renewal_trouble_until
                    for _ in range(_poisson(rng, lam * 0.3)):
                        at = minute + timedelta(seconds=rng.random() * 60)
                        patron = f"{branch[:4].upper()}{rng.randint(1, 40_000):06d}"
                        item = f"B{rng.randint(1, 250_000):07d}"
                        failed = rng.random() < (0.45 if trouble else 0.03)
                        common = {"branch": branch, "patron": patron, "item": item}
                        why = {"reason": "timeout from the branch system"} if failed else {}
                        batch.append(
                            envelope(
                                "loan.renewal_failed" if failed else "loan.renewed",
                                "/union-catalogue/renewal",
                                self._id(),
                                at,
                                channel="app",
                                system="renewal-gateway",
                                **why,
                                **common,
                            )
                        )
                    if rng.random() < lam * 0.01:  # a member asks for a card
                        batch.append(
                            envelope(
                                "member.card_requested",
                                source,
                                self._id(),
                                minute + timedelta(seconds=rng.random() * 60),
                                branch=branch,
                                patron=f"{branch[:4].upper()}{rng.randint(1, 40_000):06d}",
                                request=rng.choice(("new", "reprint", "renewal")),
                            )
                        )
                    if rng.random() < 0.05:  # about every 20 minutes a gate alarms somewhere
                        gates = [d for b, d, k in devices if b == branch and k == "gate"]
                        batch.append(
                            envelope(
                                "gate.alarm",
                                f"/kiosk-monitor/{branch}",
                                self._id(),
                                minute + timedelta(seconds=rng.random() * 60),
                                branch=branch,
                                device=rng.choice(gates),
                            )
                        )
                for branch, device, kind in devices:
                    if device in outages:
                        outage = outages[device]
                        if minute >= outage.until:
                            del outages[device]
                            batch.append(
                                self._device_event(
                                    "device.status_changed",
                                    minute,
                                    branch,
                                    device,
                                    kind,
                                    status="online",
                                )
                            )
                        elif rng.random() < 0.2:  # the monitor repeats itself
                            batch.append(
                                self._device_event(
                                    "device.status_changed",
                                    minute + timedelta(seconds=5),
                                    branch,
                                    device,
                                    kind,
                                    status="offline",
                                )
                            )
                        continue
                    batch.append(
                        self._device_event(
                            "device.heartbeat",
                            minute + timedelta(seconds=1),
                            branch,
                            device,
                            kind,
                        )
                    )
                if self.faults and rng.random() < self.outage_chance:
                    branch, device, kind = rng.choice(devices)
                    if device not in outages:
                        outages[device] = Outage(
                            device, kind, branch, minute + timedelta(minutes=rng.randint(5, 60))
                        )
                        batch.append(
                            self._device_event(
                                "device.status_changed",
                                minute + timedelta(seconds=2),
                                branch,
                                device,
                                kind,
                                status=rng.choice(("offline", "error")),
                                code="E-PRINTER",
                            )
                        )
                if self.faults and renewal_trouble_until is None and rng.random() < 0.001:
                    renewal_trouble_until = minute + timedelta(minutes=rng.randint(20, 45))
                if renewal_trouble_until is not None and minute >= renewal_trouble_until:
                    renewal_trouble_until = None
                if self.faults and rng.random() < 0.002:
                    branch = rng.choice(BRANCHES)[0]
                    batch.append(
                        envelope(
                            "catalogue.sync_failed",
                            "/union-catalogue/sync",
                            self._id(),
                            minute + timedelta(seconds=30),
                            branch=branch,
                            system=f"slims-{branch}",
                            reason="OAI-PMH harvest timed out",
                        )
                    )
            if self.faults and self.invalid_share:
                for i, message in enumerate(batch):
                    if rng.random() < self.invalid_share:
                        batch[i] = _broken(rng, message)
            batch.sort(key=_time_of)
            yield from batch
            minute += timedelta(minutes=1)


def _time_of(message: dict[str, Any] | bytes) -> str:
    return message.get("time", "") if isinstance(message, dict) else ""


def _broken(rng: random.Random, message: dict[str, Any] | bytes) -> dict[str, Any] | bytes:
    if not isinstance(message, dict):
        return message
    choice = rng.randrange(3)
    if choice == 0:
        return b'{"specversion": "1.0", "id": "truncated'
    broken = dict(message)
    if choice == 1:
        broken.pop("time")
    else:
        broken["data"] = {**message["data"], "patron_name": "Siti Rahmawati"}
    return broken


def _poisson(rng: random.Random, lam: float) -> int:
    """A Poisson count (Knuth's method: small means only)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam**0.5)))
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def start_of_day(at: datetime) -> datetime:
    """07:30 in Jakarta on `at`'s day: half an hour before the branches open."""
    local = at.astimezone(JAKARTA)
    return local.replace(hour=7, minute=30, second=0, microsecond=0)
