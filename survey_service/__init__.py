"""survey_service: empathy-focused CSAT and NPS surveys with honest A/B statistics."""

__version__ = "0.1.0"

__all__ = ["__version__"]
