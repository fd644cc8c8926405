"""Dashboard users: owners and managers, passwords and sessions."""
