"""Business outcomes from other systems, and what empathy is worth."""
