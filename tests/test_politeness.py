"""The shared politeness budget's scripts (``chinanews.politeness``) against the real Redis
on 127.0.0.1:6379: several clients, each its own connection as a worker would have, never
hold more places than the concurrency, and their starts keep the delay apart."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from scrapy.extensions.throttle import AutoThrottle
from scrapy.settings import Settings

from chinanews.distributed import Keys, reset
from chinanews.politeness import (
    PATIENCE,
    PRIORITY,
    TAKE,
    Budget,
    Limits,
    Throttle,
    jitter_factor,
    slot_limits,
)
from tests.conftest import REDIS_URL
from tests.test_distributed import addon_settings

SLOT = "127.0.0.1"


@pytest.fixture
def prefix(redis_client: Any) -> Iterator[str]:
    keys = Keys(f"chinanews-test:polite:{uuid.uuid4().hex[:12]}")
    yield keys.prefix
    reset(redis_client, keys)


def with_budgets(
    prefix: str, n: int, body: Callable[[list[Budget]], Awaitable[Any]], poll: float = 0.005
) -> Any:
    """Run ``body`` with ``n`` budgets, each on a Redis connection of its own."""
    import redis.asyncio

    async def main() -> Any:
        budgets = [
            Budget(redis.asyncio.Redis.from_url(REDIS_URL), prefix, f"w{i}", poll=poll)
            for i in range(n)
        ]
        try:
            return await body(budgets)
        finally:
            for b in budgets:
                await b.client.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("workers", [2, 3])
def test_concurrent_clients_never_hold_more_places_than_the_concurrency(
    prefix: str, workers: int
) -> None:
    limits = Limits(delay=0.0, jitter=0.0, concurrency=2)
    held: list[int] = [0]
    peak: list[int] = [0]
    done: list[int] = [0]

    async def one(budget: Budget, hold: float) -> None:
        token, _ = await budget.acquire(SLOT, limits, lifetime=10)
        held[0] += 1
        peak[0] = max(peak[0], held[0])
        await asyncio.sleep(hold)
        held[0] -= 1
        done[0] += 1
        await budget.release(SLOT, token)

    async def body(budgets: list[Budget]) -> None:
        # Each worker sends 8 requests at once (its own CONCURRENT_REQUESTS), holds 2–12 ms.
        await asyncio.gather(
            *(one(b, 0.002 + 0.01 * (i % 3) / 2) for b in budgets for i in range(8))
        )

    with_budgets(prefix, workers, body)
    assert done[0] == 8 * workers
    assert peak[0] == 2


def test_starts_keep_the_delay_apart_across_clients(prefix: str) -> None:
    limits = Limits(delay=0.05, jitter=0.0, concurrency=8)
    starts: list[float] = []

    async def one(budget: Budget) -> None:
        token, _ = await budget.acquire(SLOT, limits, lifetime=10)
        starts.append(asyncio.get_running_loop().time())
        await budget.release(SLOT, token)

    async def body(budgets: list[Budget]) -> None:
        await asyncio.gather(*(one(b) for b in budgets for _ in range(5)))

    with_budgets(prefix, 3, body)
    starts.sort()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 15
    # Starts are reserved in Redis' time, 50 ms apart; each client sleeps from the moment
    # the reply reaches it, so a start moves by the reply's transit and the event loop's lag
    # (a few ms here, where 15 requests share one loop; more on a busy machine): a gap
    # may shrink by that much, the sum of them does not.
    assert sum(g >= 0.05 - 0.005 for g in gaps) >= 0.8 * len(gaps), gaps
    assert starts[-1] - starts[0] >= 14 * 0.05 - 0.01
    assert starts[-1] - starts[0] < 14 * 0.05 + 0.2  # and not much slower


def test_the_jitter_factor_is_drawn_as_scrapy_draws_it() -> None:
    factors = [jitter_factor(0.5) for _ in range(2000)]
    assert 0.5 <= min(factors) < 0.52 and 1.48 < max(factors) <= 1.5
    assert jitter_factor(0.0) == 1.0


@pytest.mark.parametrize("factor", [0.5, 1.0, 1.5])
def test_the_next_start_is_the_delay_times_the_factor_after_this_one(
    prefix: str, redis_client: Any, factor: float
) -> None:
    inflight, nxt = f"{prefix}:polite:{SLOT}:inflight", f"{prefix}:polite:{SLOT}:next"
    waiting = [f"{prefix}:polite:{SLOT}:waiting", f"{prefix}:polite:{SLOT}:waiting_until"]
    keys = [inflight, nxt, f"{prefix}:throttle", f"{prefix}:dead_workers", *waiting]
    no_throttle = ["", "", "", ""]

    def acquire(token: str) -> list[Any]:
        return redis_client.eval(
            TAKE, 6, *keys, token, repr(factor), 1000, 4, "", 60_000, *no_throttle, "w0"
        )

    granted, wait, _ = acquire("a")
    assert (granted, wait) == (1, 0)
    first = int(redis_client.get(nxt))
    granted, wait, _ = acquire("b")  # reserved at the next allowed start, not before
    assert granted == 1 and 1000 * factor - 100 < wait <= 1000 * factor
    assert int(redis_client.get(nxt)) - first == 1000 * factor
    assert redis_client.zcard(inflight) == 2


def test_a_place_never_released_expires_after_its_lifetime(prefix: str) -> None:
    limits = Limits(delay=0.0, jitter=0.0, concurrency=1)

    async def body(budgets: list[Budget]) -> float:
        dead, live = budgets
        await dead.acquire(SLOT, limits, lifetime=0.3)  # a worker killed while downloading
        _, waited = await live.acquire(SLOT, limits, lifetime=10)
        return waited

    waited = with_budgets(prefix, 2, body)
    assert 0.25 <= waited < 1.0


def test_release_gives_back_at_once_one_round_trip_each_way(prefix: str) -> None:
    limits = Limits(delay=0.0, jitter=0.5, concurrency=4)

    async def body(budgets: list[Budget]) -> int:
        for _ in range(10):
            token, _ = await budgets[0].acquire(SLOT, limits, lifetime=10)
            await budgets[0].release(SLOT, token)
        return budgets[0].round_trips

    assert with_budgets(prefix, 1, body) == 20  # one to take, one to give back


def test_a_give_back_rides_on_the_next_take_of_the_same_worker(
    prefix: str, redis_client: Any
) -> None:
    """One worker, one place, six requests at once (its queue): the first query takes, each
    later one gives the place back and takes it again, the last give-back goes alone. No
    query asks while the worker itself holds every place."""
    limits = Limits(delay=0.0, jitter=0.0, concurrency=1)
    held: list[int] = [0]
    peak: list[int] = [0]

    async def one(budget: Budget) -> None:
        token, _ = await budget.acquire(SLOT, limits, lifetime=10)
        held[0] += 1
        peak[0] = max(peak[0], held[0])
        await asyncio.sleep(0.005)
        held[0] -= 1
        budget.give_back(SLOT, token)

    async def body(budgets: list[Budget]) -> tuple[int, int, int]:
        (budget,) = budgets
        await asyncio.gather(*(one(budget) for _ in range(6)))
        await asyncio.sleep(0.05)  # the last give-back, sent on its own
        return budget.round_trips, budget.carried, budget.full_retries

    round_trips, carried, retries = with_budgets(prefix, 1, body)
    assert peak[0] == 1
    assert (round_trips, carried, retries) == (7, 5, 0)
    assert redis_client.zcard(f"{prefix}:polite:{SLOT}:inflight") == 0


def test_close_sends_the_pending_give_backs(prefix: str, redis_client: Any) -> None:
    import redis.asyncio

    limits = Limits(delay=0.0, jitter=0.0, concurrency=2)
    inflight = f"{prefix}:polite:{SLOT}:inflight"

    async def main() -> int:
        budget = Budget(redis.asyncio.Redis.from_url(REDIS_URL), prefix, "w0")
        token, _ = await budget.acquire(SLOT, limits, lifetime=10)
        budget.give_back(SLOT, token)  # in the background
        await budget.close()
        return budget.give_failures

    assert asyncio.run(main()) == 0
    assert redis_client.zcard(inflight) == 0


def test_the_places_of_a_worker_whose_lease_was_reclaimed_come_back(
    prefix: str, redis_client: Any
) -> None:
    """A killed worker's places would last its download timeout; once its lease is
    reclaimed (``chinanews.lease`` adds it to ``<prefix>:dead_workers``) the next query that
    finds the slot full drops them. A live worker's places stay."""
    limits = Limits(delay=0.0, jitter=0.0, concurrency=2)

    async def body(budgets: list[Budget]) -> tuple[float, float]:
        dead, live, other = budgets
        await dead.acquire(SLOT, limits, lifetime=60)
        await other.acquire(SLOT, limits, lifetime=60)
        redis_client.sadd(f"{prefix}:dead_workers", "w0")
        _, waited = await live.acquire(SLOT, limits, lifetime=60)
        # the slot is full again (w1's and w2's places): w1's is not dropped
        try:
            await asyncio.wait_for(live.acquire(SLOT, limits, lifetime=60), 0.3)
        except asyncio.TimeoutError:
            return waited, -1.0
        return waited, 0.0

    waited, second = with_budgets(prefix, 3, body)
    assert waited < 0.2
    assert second == -1.0  # still full: live workers' places are not taken away
    members = {m.decode() for m in redis_client.zrange(f"{prefix}:polite:{SLOT}:inflight", 0, -1)}
    assert {m.split(":")[0] for m in members} == {"w1", "w2"}


def test_autothrottle_delay_is_one_value_shared_by_the_workers(
    prefix: str, redis_client: Any
) -> None:
    throttle = Throttle(target=2.0, minimum=0.05, maximum=5.0, start=1.0)
    limits = Limits(delay=1.0, jitter=0.0, concurrency=4)

    async def body(budgets: list[Budget]) -> list[float | None]:
        a, b = budgets
        ta, _ = await a.acquire(SLOT, limits, lifetime=10, throttled=True)
        first = await a.release(SLOT, ta, latency=0.2, throttle=throttle)
        # b's first start: a's reservation ended 1.0 s (the start delay) after a's start.
        tb, waited = await b.acquire(SLOT, limits, lifetime=10, throttled=True)
        second = await b.release(SLOT, tb, latency=0.2, throttle=throttle)
        tc, waited_c = await a.acquire(SLOT, limits, lifetime=10, throttled=True)
        await a.release(SLOT, tc)
        return [first, second, waited, waited_c, await b.shared_delay(SLOT)]

    first, second, waited, waited_c, shared = with_budgets(prefix, 2, body)
    # AutoThrottle's rule from the start delay: target 0.1, then max(0.1, (1.0 + 0.1)/2).
    assert first == pytest.approx(0.55)
    assert second == pytest.approx((0.55 + 0.1) / 2)  # b started from a's value
    assert shared == pytest.approx(second)
    assert 0.9 <= waited < 1.2  # the start delay
    assert 0.35 <= waited_c < 0.7  # the shared delay after a's first response (0.55)
    assert redis_client.hget(f"{prefix}:throttle", SLOT) is not None


# -- wiring -------------------------------------------------------------------------------


def _middlewares(settings: Any) -> dict[Any, Any]:
    return {
        (k if isinstance(k, str) else f"{k.__module__}.{k.__qualname__}"): v
        for k, v in settings.getdict("DOWNLOADER_MIDDLEWARES").items()
    }


def test_the_distributed_addon_installs_the_budget_and_switches_autothrottle_off() -> None:
    settings = addon_settings(CHINANEWS_DISTRIBUTED="1")
    assert _middlewares(settings)["chinanews.politeness.SharedPoliteness"] == PRIORITY
    assert settings.getdict("EXTENSIONS")[AutoThrottle] is None
    # the settings themselves are left as given: the budget reads them
    assert settings.getbool("AUTOTHROTTLE_ENABLED") is True
    assert settings.getfloat("DOWNLOAD_DELAY") == 0.5


@pytest.mark.parametrize("given", [{}, {"CHINANEWS_SHARED_POLITENESS": "0"}])
def test_without_distributed_mode_or_switched_off_each_worker_keeps_its_own(
    given: dict[str, str],
) -> None:
    settings = addon_settings(**({"CHINANEWS_DISTRIBUTED": "1"} if given else {}), **given)
    assert "chinanews.politeness.SharedPoliteness" not in _middlewares(settings)
    assert AutoThrottle not in settings.getdict("EXTENSIONS")


def test_the_budget_per_slot_is_what_scrapy_gives_one_process() -> None:
    settings = Settings(
        {
            "DOWNLOAD_DELAY": 0.05,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
            "AUTOTHROTTLE_ENABLED": False,
            "DOWNLOAD_SLOTS": {"slow.example": {"delay": 2, "concurrency": 1, "jitter": 0}},
        }
    )
    assert slot_limits(settings, "a.example", 0.5) == Limits(delay=0.05, jitter=0.5, concurrency=2)
    assert slot_limits(settings, "slow.example", 0.5) == Limits(delay=2, jitter=0, concurrency=1)
    settings.set("AUTOTHROTTLE_ENABLED", True)
    settings.set("AUTOTHROTTLE_START_DELAY", 1.0)
    assert slot_limits(settings, "a.example", 0.5).delay == 1.0  # AutoThrottle's start delay


def test_the_jitter_is_read_as_scrapy_reads_it() -> None:
    from scrapy.settings import Settings

    from chinanews.politeness import default_jitter

    assert default_jitter(Settings()) == 0.5  # DOWNLOAD_DELAY_JITTER's default
    assert default_jitter(Settings({"DOWNLOAD_DELAY_JITTER": "0.2"}, priority="cmdline")) == 0.2
    off = Settings({"RANDOMIZE_DOWNLOAD_DELAY": False}, priority="cmdline")
    assert default_jitter(off) == 0.0


def test_a_carried_give_back_moves_the_shared_autothrottle_delay(prefix: str) -> None:
    throttle = Throttle(target=2.0, minimum=0.0, maximum=5.0, start=0.05)
    limits = Limits(delay=0.05, jitter=0.0, concurrency=1)

    async def body(budgets: list[Budget]) -> tuple[float | None, int, int]:
        (budget,) = budgets
        first, _ = await budget.acquire(SLOT, limits, lifetime=10, throttled=True)
        waiting = asyncio.ensure_future(budget.acquire(SLOT, limits, lifetime=10, throttled=True))
        await asyncio.sleep(0.01)  # it waits: the worker holds the only place
        budget.give_back(SLOT, first, latency=0.2, throttle=throttle)
        await waiting
        return await budget.shared_delay(SLOT), budget.carried, budget.round_trips

    delay, carried, round_trips = with_budgets(prefix, 1, body)
    assert carried == 1 and round_trips == 2
    # AutoThrottle's rule from the start delay: target 0.1, max(0.1, (0.05 + 0.1) / 2)
    assert delay == pytest.approx(0.1)


def test_a_worker_that_gives_a_place_back_does_not_keep_it_from_a_worker_waiting_longer(
    prefix: str,
) -> None:
    """Worker a's give-back rides on its next take, in one script: without the waiting list
    a worker whose requests queue for the host would keep its place for good, and b, which
    only polls, would starve (b's robots.txt waited out a whole crawl in an e2e test). Once b
    has waited ``PATIENCE``, the next place a gives back goes to b."""
    limits = Limits(delay=0.0, jitter=0.0, concurrency=1)
    hold = 0.03
    order: list[str] = []

    async def one(budget: Budget, name: str) -> None:
        token, _ = await budget.acquire(SLOT, limits, lifetime=10)
        order.append(name)
        await asyncio.sleep(hold)
        budget.give_back(SLOT, token)

    async def body(budgets: list[Budget]) -> None:
        a, b = budgets

        async def all_of_a() -> None:
            await asyncio.gather(*(one(a, "a") for _ in range(16)))

        of_a = asyncio.create_task(all_of_a())
        await asyncio.sleep(0.005)  # a holds the place, its other requests queue behind it
        await asyncio.gather(of_a, *(one(b, "b") for _ in range(2)))
        await asyncio.sleep(0.05)

    with_budgets(prefix, 2, body)
    assert len(order) == 18
    # b's first place comes once it has waited PATIENCE (about 7 of a's 30 ms turns), not
    # after a's sixteen
    assert order.index("b") <= PATIENCE / hold + 3, order
