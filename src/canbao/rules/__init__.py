"""Vectorized rules: eligibility, contribution, benefit period, refund."""
