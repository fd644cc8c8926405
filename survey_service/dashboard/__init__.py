"""The owner's dashboard: pages rendered on the server from the KPI, experiment and
export services (no second computation of any figure)."""
