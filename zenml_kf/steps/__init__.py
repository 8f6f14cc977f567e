"""Steps: `@step`, `BaseStepConfig`, `Output` and the runner every orchestrator shares."""
