"""Queue routing: each task lands in its own queue, and a worker without -Q consumes them all."""

from __future__ import annotations

import celery_config


def test_every_task_is_routed_to_exactly_its_own_queue(app):
    celery = app.extensions["celery"]
    celery.loader.import_default_modules()
    expected = {"workers.email": "email", "workers.maintenance": "maintenance"}
    ours = [name for name in celery.tasks if name.rsplit(".", 1)[0] in expected]
    assert len(ours) >= 4
    for name in ours:
        module = name.rsplit(".", 1)[0]
        queue = celery.amqp.router.route({}, name)["queue"]
        assert (queue.name, queue.routing_key, queue.exchange.name) == (expected[module],) * 3


def test_a_plain_worker_consumes_every_declared_queue(app):
    consumed = {queue.name for queue in app.extensions["celery"].amqp.queues.values()}
    assert consumed == set(celery_config.QUEUES)
    routed = {route["queue"] for route in celery_config.task_routes.values()}
    assert routed <= consumed
