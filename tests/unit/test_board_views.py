"""The worklist's views as their URLs state them: what is accepted, what is refused and why,
and the bookmarkable address a view gives back."""

from datetime import UTC, datetime, timedelta

import pytest

from referral.api.pages.rendering import countdown_text
from referral.domain.board import BadView, BoardView, parse_view, phone_as_e164


def test_a_views_address_round_trips_without_its_empty_parts():
    view = parse_view({"site": "moorgate", "claimed": "none", "urgent": "1", "mode": "",
                       "q": "  "})
    assert view == BoardView(site="moorgate", claimed="none", urgent=True)
    assert view.query_string() == "site=moorgate&claimed=none&urgent=1"
    assert parse_view(dict(pair.split("=") for pair in view.query_string().split("&"))) == view
    assert not parse_view({}).is_filtered()


@pytest.mark.parametrize(("params", "field"), [
    ({"mode": "helicopter"}, "mode"), ({"claimed": "maybe"}, "claimed"),
    ({"status": "discharged"}, "status"), ({"site": "Moorgate; DROP"}, "site"),
    ({"urgent": "very"}, "urgent"), ({"q": "x" * 101}, "q")])
def test_a_value_the_board_does_not_have_names_its_field(params, field):
    with pytest.raises(BadView) as refused:
        parse_view(params)
    assert refused.value.field == field and refused.value.why


@pytest.mark.parametrize("typed", ["07400 123456", "+44 7400 123456", "+44 (0)7400-123 456",
                                   "0044 7400 123 456", "07400123456"])
def test_a_phone_number_typed_any_way_reads_as_the_form_stored_it(typed):
    assert phone_as_e164(typed) == "+447400123456"


def test_words_are_not_phone_numbers():
    assert phone_as_e164("Bert") is None and phone_as_e164("ABC-2345") is None


def test_countdowns_say_minutes_hours_then_days() -> None:
    """A deadline missed days ago reads in days, not as "16577 h", which no column holds."""
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert countdown_text(now + timedelta(minutes=25, seconds=30), now) == "25 min left"
    assert countdown_text(now + timedelta(hours=3, minutes=5), now) == "3 h 05 min left"
    assert countdown_text(now - timedelta(hours=5, minutes=4), now) == "breached 5 h 04 min ago"
    assert countdown_text(now - timedelta(days=690, hours=7), now) == "breached 690 d 7 h ago"
