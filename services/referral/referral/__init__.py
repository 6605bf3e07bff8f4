"""referral: the triage queue, the split between disciplines, the therapist directory, caseloads."""
