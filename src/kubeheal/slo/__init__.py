"""Service level objectives: specs, burn-rate rules, budgets."""
