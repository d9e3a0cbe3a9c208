"""The tournament core: rounds, submissions, stakes, resolution and payouts."""
