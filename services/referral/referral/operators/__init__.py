"""referral's operator commands and demo data (`python -m referral seed|staff`)."""
