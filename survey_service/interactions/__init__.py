"""The staff interaction log: what staff saw and did, and how the customer responded."""
