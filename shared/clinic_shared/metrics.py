"""Prometheus metrics shared by every service's API and worker."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
OUTBOX_PUBLISHED = Counter(
    "outbox_published_total", "Outbox rows published and confirmed by the broker", ["service"]
)
OUTBOX_FAILED = Counter(
    "outbox_publish_failures_total", "Outbox publishes refused by the broker", ["service", "reason"]
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["service"])
CONSUMED = Counter(
    "consumer_messages_total",
    "Messages handled by a consumer, by outcome",
    ["service", "queue", "outcome"],
)
CONSUME_LATENCY = Histogram(
    "consumer_handle_duration_seconds", "Time to handle one message", ["service", "queue"]
)
