"""What referral keeps in PostgreSQL (its tables); referral talks to nothing else outside."""
