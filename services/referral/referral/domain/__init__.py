"""referral's rules: triage, referrals and their lifecycle, assignment, the board, SLA records."""
