"""aiosmtpd handlers for the sender tests (run as ``-c tests.smtp_handlers.Flaky``)."""

from __future__ import annotations

from typing import Any


class Flaky:
    """Refuses ``perm*`` recipients for good (550) and ``temp*`` ones twice (451)."""

    def __init__(self) -> None:
        self.tries: dict[str, int] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.startswith("perm"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("temp"):
            self.tries[address] = self.tries.get(address, 0) + 1
            if self.tries[address] <= 2:
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"
