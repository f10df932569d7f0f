"""Faust's aiokafka transport with a cheaper hand-over of fetched records to the agents.

Faust's consumer hands every record to the conductor inside `wait_first(callback, suspend_flow)`,
so that a delivery blocked on a full stream buffer is given up when flow is suspended for a
rebalance. That costs four tasks and an `asyncio.wait` per record, about a tenth of the worker's
busy time on a backlog (py-spy). When nothing can block (flow running, no rebalance under way,
room in the partition's stream buffer, the producer buffer below its limit) the delivery finishes
without giving the event loop a turn, so no suspension can happen during it and it is awaited
directly. Every other record takes Faust's path.
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterator, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as driver
from mode import Service


class Consumer(driver.Consumer):
    def _can_deliver_at_once(self, tp) -> bool:
        app = self.app
        # While a rebalance is under way Faust's own path is kept: recovery resumes the flow,
        # seeks and then clears the stream buffers, and records handed over in that window are
        # dropped. Delivered at once, a whole fetch could be lost that way (a worker restarted
        # after a kill -9 then processed nothing, 4 runs in 8); Faust's slower path loses a few,
        # which the worker's gap reader fetches again (`pipeline.app.GapReader`).
        if app.rebalancing or self.suspend_flow.is_set() or not app.flow_control.is_active():
            return False
        buffer = app.producer.buffer
        # `size` reads the settings on every call; the pending queue is empty in this worker (it
        # sends straight to the producer, and `producer_threaded` is off).
        if buffer.pending.qsize() and buffer.size > buffer.max_messages:
            return False
        channels = app.topics._tp_index.get(tp)
        return bool(channels) and not any(channel.queue.full() for channel in channels)

    async def _drain_messages(self, fetcher) -> None:  # pragma: no cover - runs in the worker
        # Faust's loop (faust/transport/consumer.py, Consumer._drain_messages), with the direct
        # delivery added; gaps and commits are handled as Faust does.
        callback = self.callback
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        acks_enabled_for = self.app.topics.acks_enabled_for
        can_deliver_at_once = self._can_deliver_at_once
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                records = cast(AsyncIterator, self.getmany(timeout=1.0))
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in records:
                        since_yield += 1
                        if since_yield > 100:
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        read_offset = get_read_offset(tp)
                        if read_offset is not None and offset < read_offset:
                            continue
                        if read_offset and offset - read_offset > 1 and acks_enabled_for(message.topic):
                            await self._add_gap(tp, read_offset + 1, offset)
                        if self._commit_every is not None and self._n_acked >= self._commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if can_deliver_at_once(tp):
                            await callback(message)
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)


class Transport(driver.Transport):
    Consumer = Consumer
