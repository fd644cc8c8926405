"""Which addresses webhooks may go to (pure checks; deliveries: test_alerts.py)."""

from __future__ import annotations

import ipaddress

import pytest

from survey_service.alerts.egress import literal_refusal, refusal
from survey_service.settings import Settings, SettingsError

OFFICE = [ipaddress.ip_network("10.20.0.0/16")]


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # an IPv4-mapped address is its IPv4 one
        ("169.254.169.254", "link-local"),  # cloud metadata services
        ("fe80::1%eth0", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd00::7", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ],
)
def test_non_public_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    reason = refusal(address, [])
    assert reason is not None
    assert reason.endswith(f"a {kind} address")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address, []) is None


def test_allowed_networks_let_exactly_their_addresses_through() -> None:
    assert refusal("10.20.3.4", OFFICE) is None
    assert refusal("::ffff:10.20.3.4", OFFICE) is None
    assert refusal("10.21.0.1", OFFICE) == "10.21.0.1 is a private address"
    assert refusal("127.0.0.1", OFFICE) == "127.0.0.1 is a loopback address"


@pytest.mark.parametrize(
    ("host", "refused"),
    [
        ("localhost", True),
        ("LocalHost.", True),
        ("app.localhost", True),
        ("[::1]", True),
        ("127.0.0.1", True),
        ("10.20.0.5", False),  # allowed below
        ("hooks.example", False),  # a name: checked when a delivery connects
        ("93.184.216.34", False),
    ],
)
def test_registration_refuses_what_needs_no_lookup(host: str, refused: bool) -> None:
    assert (literal_refusal(host, OFFICE) is not None) is refused


def test_the_allowed_networks_setting_is_parsed_and_checked() -> None:
    settings = Settings.from_env({"SURVEY_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8, 127.0.0.1"})
    assert settings.webhook_networks == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
    ]
    assert Settings.from_env({}).webhook_networks == []
    with pytest.raises(SettingsError, match="SURVEY_WEBHOOK_ALLOWED_NETWORKS: 'intranet'"):
        Settings.from_env({"SURVEY_WEBHOOK_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"})
