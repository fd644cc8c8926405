"""``survey-service report --week``: the weekly report now, for the owners (and printed)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

__all__ = ["add_report_command"]


def _report(args: argparse.Namespace) -> int:
    from survey_service.alerts.mail import send_alert_emails
    from survey_service.app import create_app
    from survey_service.cli import _settings
    from survey_service.dashboard.weekly import render_email, send_if_due
    from survey_service.errors import StartupError

    settings = _settings()
    when = None
    if args.date:
        try:
            day = dt.date.fromisoformat(args.date)
        except ValueError:
            print("survey-service: --date takes YYYY-MM-DD", file=sys.stderr)
            return 2
        # The report covers the full week before the one holding this date.
        when = dt.datetime.combine(day, dt.time(12), dt.UTC)

    async def run() -> str:
        app = create_app(settings)
        async with app.lifespan():
            report = await send_if_due(
                app.state.db, app.state.dashboard, settings.base_url, when, force=True
            )
            assert report is not None  # forced
            if settings.smtp is not None:
                await send_alert_emails(app.state.db, settings.smtp)
            return render_email(report, settings.base_url)[1]

    try:
        print(asyncio.run(run()))
    except StartupError as exc:
        print(f"survey-service: {exc}", file=sys.stderr)
        return 1
    return 0


def add_report_command(commands: Any) -> None:
    """Add ``report --week [--date YYYY-MM-DD]``."""
    report = commands.add_parser(
        "report", help="the weekly report now: queued for every owner, and printed"
    )
    report.add_argument("--week", action="store_true", required=True, help="the last full week")
    report.add_argument("--date", help="a day in the week after the one to report (default today)")
    report.set_defaults(func=_report)
