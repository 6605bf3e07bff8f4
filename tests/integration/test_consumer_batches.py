"""Messages that arrive together share one transaction; a failing handler is retried alone."""

from sqlalchemy import func, select

from clinic_shared.messaging.connection import AmqpConfig
from clinic_shared.messaging.consumer import EventConsumer, Outcome, Subscription
from referral.adapters.tables import TriageEntry, inbox
from tests.integration.test_consumer import entries, event_body, referral_sessions  # noqa: F401
from tests.support.referral_handlers import HANDLERS


def failing_on(reference: str, calls: list[str]):
    handler = HANDLERS["appointment.requested"]

    def handle(session, data, envelope):
        calls.append(data.reference)
        handler(session, data, envelope)
        if data.reference == reference:
            raise RuntimeError("this one fails after writing")

    return {**HANDLERS, "appointment.requested": handle}


def consumer(sessions, infra, topology, handlers=HANDLERS) -> EventConsumer:
    return EventConsumer(
        service="test",
        subscription=Subscription("referral", topology.queue("referral", "booking"), handlers),
        session_factory=sessions, inbox=inbox, amqp=AmqpConfig(infra.amqp_url), topology=topology,
    )


def test_a_batch_commits_together_and_a_duplicate_inside_it_changes_nothing(
        referral_sessions, infra, topology):  # noqa: F811
    bodies = [event_body() for _ in range(5)]
    outcomes = consumer(referral_sessions, infra, topology).handle_batch(
        [*bodies, bodies[2], b"{not json"])
    assert outcomes == [Outcome.processed] * 5 + [Outcome.duplicate, Outcome.rejected]
    assert entries(referral_sessions) == 5


def test_a_failing_handler_is_rolled_back_alone_and_retried(
        referral_sessions, infra, topology):  # noqa: F811
    calls: list[str] = []
    bodies = [event_body() for _ in range(3)]
    with_failure = consumer(referral_sessions, infra, topology, failing_on("TST-0001", calls))
    # event_body() always says TST-0001: make the middle one different
    ok_first, failing, ok_last = (b.replace(b"TST-0001", ref) for b, ref in
                                  zip(bodies, (b"TST-0002", b"TST-0001", b"TST-0003"),
                                      strict=True))
    outcomes = with_failure.handle_batch([ok_first, failing, ok_last])
    assert outcomes == [Outcome.processed, Outcome.retry, Outcome.processed]
    with referral_sessions() as session:
        references = set(session.scalars(select(TriageEntry.reference)))
        assert references == {"TST-0002", "TST-0003"}
        assert session.scalar(select(func.count()).select_from(inbox)) == 2
    # redelivered to a healthy consumer, the failed one goes through; the others are duplicates
    outcomes = consumer(referral_sessions, infra, topology).handle_batch(
        [ok_first, failing, ok_last])
    assert outcomes == [Outcome.duplicate, Outcome.processed, Outcome.duplicate]
    assert entries(referral_sessions) == 3


def counting(calls: list[str], fail_first: str | None = None):
    """The triage handler, noting each call; `fail_first` raises on its first call only."""
    handler = HANDLERS["appointment.requested"]

    def handle(session, data, envelope):
        calls.append(data.reference)
        if data.reference == fail_first and calls.count(fail_first) == 1:
            raise RuntimeError("a passing failure")
        handler(session, data, envelope)

    return {**HANDLERS, "appointment.requested": handle}


def with_references(*references: bytes) -> list[bytes]:
    return [event_body().replace(b"TST-0001", reference) for reference in references]


def test_a_healthy_batch_runs_each_handler_once(referral_sessions, infra, topology):  # noqa: F811
    calls: list[str] = []
    bodies = with_references(b"TST-0011", b"TST-0012", b"TST-0013", b"TST-0014")
    outcomes = consumer(referral_sessions, infra, topology, counting(calls)).handle_batch(
        [*bodies, bodies[0]])
    assert outcomes == [Outcome.processed] * 4 + [Outcome.duplicate]
    assert calls == ["TST-0011", "TST-0012", "TST-0013", "TST-0014"]
    assert entries(referral_sessions) == 4


def test_a_handler_that_fails_once_inside_a_batch_loses_nothing(
        referral_sessions, infra, topology):  # noqa: F811
    calls: list[str] = []
    bodies = with_references(b"TST-0021", b"TST-0022", b"TST-0023")
    outcomes = consumer(referral_sessions, infra, topology,
                        counting(calls, fail_first="TST-0022")).handle_batch(bodies)
    # the shared transaction is rolled back whole and run again message by message
    assert outcomes == [Outcome.processed] * 3
    assert entries(referral_sessions) == 3
    with referral_sessions() as session:
        assert session.scalar(select(func.count()).select_from(inbox)) == 3
