"""A gateway worker's credit leases: most calls held in memory, none overspent.

A lease is a reservation of kind ``lease`` (``reservations.hold_or_lease``):
credit the database sets aside for one user, counted as held by every worker
and host like any hold. This worker alone holds calls against it, in memory: a
call whose estimate fits what the lease has free goes to the upstream with no
transaction before it. The call's usage event names the lease and draws its
real cost from it when it commits, so the stored lease always covers the calls
still running against it. The event loop is one thread: taking and giving back
need no lock.

A call that does not fit goes to the database: one transaction, the same check
as a per-call hold, which tops the lease up (or makes a new one) by several
calls' estimates. A lease takes at most 1/share of what the user has free, so
a user near the end of their credit gets per-call holds and is not refused on
one worker while another sits on their credit; a lease unused for
``idle_seconds`` is given back (released), and one found released or lost is
dropped.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from billing.reservations.service import LeaseAsk, Leased
from billing.settings import Settings

LeaseKey = tuple[str, str | None]  # user id, role sent (a lease is made under its policy)


@dataclass(slots=True)
class Lease:
    id: str
    free_micro: int  # added, less the estimates of running calls and the costs of ended ones
    renew_at: datetime  # from then on calls top it up (which extends it) before using it
    running: int = 0
    last_used: float = 0.0  # time.monotonic()
    closed: bool = False  # released, or found released or lost: no new call uses it


class LeaseBook:
    """One worker's leases, by user and role."""

    def __init__(self, calls: int, share: int, idle_seconds: float, ttl_seconds: int) -> None:
        self.calls = calls
        self.share = share
        self.idle_seconds = idle_seconds
        # Renewed at half its life, so a call (even a long stream) never runs on a lease
        # that expires under it before its record draws from it.
        self.ttl_seconds = ttl_seconds
        self._renew_before = timedelta(seconds=ttl_seconds / 2)
        self._leases: dict[LeaseKey, Lease] = {}
        self._topping_up: dict[LeaseKey, asyncio.Future[None]] = {}

    def take(self, key: LeaseKey, cost_micro: int, now: datetime) -> Lease | None:
        """Hold ``cost_micro`` against the user's lease, if it has that free."""
        lease = self._leases.get(key)
        if lease is None:
            return None
        if lease.closed:
            del self._leases[key]
            return None
        if lease.free_micro < cost_micro or now >= lease.renew_at:
            return None
        lease.free_micro -= cost_micro
        lease.running += 1
        lease.last_used = time.monotonic()
        return lease

    def ask(self, key: LeaseKey, cost_micro: int) -> LeaseAsk:
        """What to ask the database for when ``take`` could not hold the call."""
        lease = self._leases.get(key)
        current = lease if lease is not None and not lease.closed else None
        free = max(current.free_micro, 0) if current is not None else 0
        want = max(self.calls * cost_micro - free, cost_micro)
        return LeaseAsk(current.id if current else None, want, self.share, self.ttl_seconds)

    def granted(self, key: LeaseKey, leased: Leased) -> Lease:
        """Credit added by the database; the call that asked is held against it."""
        lease = self._leases.get(key)
        if lease is None or lease.id != leased.lease_id or lease.closed:
            lease = Lease(leased.lease_id, 0, leased.expires_at)
            self._leases[key] = lease
        lease.free_micro += leased.added_micro - leased.cost_micro
        lease.renew_at = leased.expires_at - self._renew_before
        lease.running += 1
        lease.last_used = time.monotonic()
        return lease

    @staticmethod
    def give_back(lease: Lease, held_micro: int, cost_micro: int) -> None:
        """A call held against ``lease`` ended, costing ``cost_micro`` (0: charged nothing)."""
        lease.free_micro += held_micro - cost_micro
        lease.running -= 1
        lease.last_used = time.monotonic()

    def pending(self, key: LeaseKey) -> asyncio.Future[None] | None:
        """The top-up of the user's lease under way, if any (calls wait for it
        rather than each asking the database)."""
        return self._topping_up.get(key)

    def topping_up(self, key: LeaseKey) -> asyncio.Future[None]:
        done = asyncio.get_running_loop().create_future()
        self._topping_up[key] = done
        return done

    def topped_up(self, key: LeaseKey, done: asyncio.Future[None]) -> None:
        if self._topping_up.get(key) is done:
            del self._topping_up[key]
        if not done.done():
            done.set_result(None)

    def idle(self, older_than: float) -> list[Lease]:
        """Take the leases with no running call, unused since ``older_than`` (a
        monotonic time), out of the book: to be released."""
        gone = [
            key
            for key, lease in self._leases.items()
            if lease.running == 0 and (lease.closed or lease.last_used < older_than)
        ]
        return [self._leases.pop(key) for key in gone]

    def all(self) -> list[Lease]:
        """Take every lease out of the book (the worker stops)."""
        leases = list(self._leases.values())
        self._leases.clear()
        return leases


def lease_book(settings: Settings) -> LeaseBook | None:
    """The worker's book, or None when leases are off (BILLING_GATEWAY_LEASE_CALLS=0)."""
    if settings.gateway_lease_calls == 0:
        return None
    return LeaseBook(
        settings.gateway_lease_calls,
        settings.gateway_lease_share,
        settings.gateway_lease_idle_seconds,
        settings.gateway_lease_ttl_seconds,
    )
