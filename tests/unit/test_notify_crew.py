"""notify's e-mail senders: a call for help wakes one waiting sender, not all of them."""

import threading
import time

from notify.domain.crew import Crew


def test_one_call_wakes_one_waiting_sender() -> None:
    crew = Crew(size=4)
    stop = threading.Event()
    woken: list[bool] = []

    def sender() -> None:
        woken.append(crew.wait(1.0, stop))

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # all three waiting
    crew.call_one()
    for thread in threads:
        thread.join()
    assert sorted(woken) == [False, False, True]


def test_calls_while_everyone_is_busy_are_kept_but_not_beyond_the_crew() -> None:
    crew = Crew(size=3)
    stop = threading.Event()
    for _ in range(5):
        crew.call_one()
    answers = [crew.wait(0.01, stop) for _ in range(4)]
    assert answers == [True, True, False, False]  # at most the two other senders are called


def test_a_sender_left_uncalled_returns_after_its_timeout() -> None:
    crew = Crew(size=2)
    started = time.monotonic()
    assert crew.wait(0.05, threading.Event()) is False
    assert time.monotonic() - started >= 0.05
