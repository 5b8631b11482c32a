"""Campaigns: time-boxed and targeted programmes on top of the base rules (to come)."""
