"""HTTP layer: controllers parse, call a service, render. No business logic here."""
