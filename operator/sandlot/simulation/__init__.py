"""The simulation: scenarios, faults, magic values, rate limits, the clock, webhooks."""
