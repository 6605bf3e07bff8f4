"""Staff sign-in lockout: failed attempts counted per account and address, per address, and per
account; a success clears the account's, so signing in, however often, never counts.

Why these three (OWASP's authentication guidance, as large identity providers do it):

- **one account from one address** (`PER_ACCOUNT_AND_ADDRESS` failures a quarter-hour): stops
  guessing one password, and locks only the guesser's address. Reception's shared account stays
  open to every other desk and device, so typing wrong passwords cannot lock it for everyone.
- **one address, any accounts** (`PER_ADDRESS`): stops one address trying many usernames. A
  success does not clear it (it takes back only its own attempt): otherwise anyone holding one
  account could wipe their count between guesses at others.
- **one account, any addresses** (`PER_ACCOUNT`, higher): stops guessing spread over many
  addresses. Addresses the account signed in from in the last day or so are exempt and their
  failures do not count towards it, so even a spread-out attack cannot lock reception's own
  desks out. It is counted only while the two limits above let the attempt through, so one
  locked-out address hammering on cannot run it up.

Each attempt is counted before the password is checked (in one statement, so parallel guesses
cannot slip past the count) and taken back once it proves right; a refused attempt checks no
password. The answer while locked says when the window ends (`SignInLocked.wait`).

The same limits guard FHIR clients' client-credentials sign-in (`POST /oauth/token`: the
client id for the account, the secret for the password), under buckets of their own (`kind`),
so a client's failures never lock a member of staff with the same name, nor the other way.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clinic_shared.ratelimit import Limit, RateLimiter

WINDOW_SECONDS = 15 * 60
PER_ACCOUNT_AND_ADDRESS = 10
PER_ADDRESS = 30
PER_ACCOUNT = 50
KNOWN_WINDOW_SECONDS = 24 * 3600  # an address that signed in to an account is known for a day+


class SignInLocked(Exception):
    """Too many failed attempts; `wait` is the seconds until the lock lifts (Retry-After)."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"sign-in locked; retry after {wait} s")
        self.wait = wait


@dataclass(frozen=True)
class Attempt:
    pair: Limit
    address: Limit
    account: Limit
    known: Limit


class SignInLimits:
    def __init__(self, limiter: RateLimiter, kind: str = "sign-in") -> None:
        self.limiter = limiter
        self.kind = kind  # the buckets' prefix: "sign-in" (staff), "client-sign-in" (FHIR)

    def begin(self, username: str, address: str) -> Attempt:
        """Count one attempt as failed until it proves right; `SignInLocked` when locked."""
        user = hashlib.sha256(username.lower().encode()).hexdigest()[:32]
        kind = self.kind
        pair = Limit(f"{kind}-fail:{user}:{address}", PER_ACCOUNT_AND_ADDRESS, WINDOW_SECONDS)
        by_address = Limit(f"{kind}-fail-ip:{address}", PER_ADDRESS, WINDOW_SECONDS)
        account = Limit(f"{kind}-fail-user:{user}", PER_ACCOUNT, WINDOW_SECONDS)
        known = Limit(f"{kind}-known:{user}:{address}", 1_000_000, KNOWN_WINDOW_SECONDS)
        with self.limiter.engine.begin() as conn:
            since = datetime.now(UTC) - timedelta(seconds=2 * KNOWN_WINDOW_SECONDS)
            is_known = self.limiter.counted_since(conn, known.bucket, since) > 0
            wait = self.limiter.hit_in_turn(conn, [pair, by_address],
                                            [] if is_known else [account])
        if wait is not None:
            raise SignInLocked(wait)
        return Attempt(pair, by_address, account, known)

    def succeeded(self, attempt: Attempt) -> None:
        """The password was right: clear the account's failures (from here and everywhere),
        uncount this attempt from the address, and know this address for the account."""
        with self.limiter.engine.begin() as conn:
            self.limiter.forget(conn, [attempt.pair.bucket, attempt.account.bucket])
            self.limiter.take_back(conn, [attempt.address])
            self.limiter.hit_on(conn, [attempt.known])
