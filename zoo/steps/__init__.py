"""Pipeline steps, one module per step kind (see `zoo.steps.base` for the contract)."""
