"""Where the server may send a participant's webhook: never to its own network (SSRF).

A webhook URL is chosen by a participant, and the server POSTs to it: without a check, a
participant could make the server call its own admin ports, a cloud metadata service
(``169.254.169.254``) or a database on the private network. :func:`check_destination`
refuses a URL whose host is, or resolves to, a loopback, private, link-local, shared
(carrier-grade NAT), multicast, reserved or unspecified address — every address the
``ipaddress`` module does not call global. It runs when the webhook is set and again
before every call (a name may resolve elsewhere later). The operator allows such
destinations with the ``webhook_allow_private`` setting (``CROWDALPHA_WEBHOOK_ALLOW_PRIVATE``
— e.g. a receiver on the same host, as the tests use).

What remains: the address is resolved again by the HTTP client when it connects, so a
name whose DNS answer changes within that instant (DNS rebinding) is not caught; run the
server behind an egress firewall where that matters.

:func:`set_webhook` is the one way the API (GraphQL's ``setSubmissionWebhook`` and REST's
``PUT /v1/models/{id}/webhook``) sets a model's webhook: this check, then the core's own
rule for the URL (:meth:`crowdalpha.tournament.webhooks.Webhooks.set`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from crowdalpha.errors import InvalidParameterError
from crowdalpha.tournament import Tournament
from crowdalpha.tournament.webhooks import WebhookInfo

__all__ = ["Resolver", "check_destination", "internal_reason", "resolve_host", "set_webhook"]

#: host, port → the addresses it resolves to (``socket.getaddrinfo`` by default).
Resolver = Callable[[str, int], Sequence[str]]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (``socket.getaddrinfo``)."""
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def internal_reason(address: str) -> str | None:
    """Why ``address`` (an IP literal) is not a public destination, or None if it is."""
    ip: IpAddress = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, label in (
        (ip.is_loopback, "a loopback"),
        (ip.is_link_local, "a link-local"),
        (ip.is_unspecified, "an unspecified"),
        (ip.is_multicast, "a multicast"),
        (ip.is_private, "a private"),
        (ip.is_reserved, "a reserved"),
        (not ip.is_global, "a non-public"),
    ):
        if test:
            return f"{label} address"
    return None


def check_destination(
    url: str,
    *,
    allow_private: bool = False,
    resolve: Resolver = resolve_host,
    unresolved_ok: bool = True,
) -> None:
    """Refuse ``url`` (InvalidParameterError) when its host is, or resolves to, an
    internal address, unless ``allow_private``. A name that does not resolve passes when
    ``unresolved_ok`` (it is checked again before each call), else it is refused."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise InvalidParameterError(f"the webhook URL {url!r} has no host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InvalidParameterError(f"the webhook URL {url!r} has an invalid port") from None
    try:
        addresses: Sequence[str] = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            if unresolved_ok:
                return
            raise InvalidParameterError(
                f"the webhook host {host!r} does not resolve: {exc}",
                details={"reason": "unresolved_destination", "host": host},
            ) from None
    for address in addresses:
        reason = internal_reason(address)
        if reason is not None:
            raise InvalidParameterError(
                f"the webhook host {host!r} is {reason} ({address}); webhooks go only to "
                "public addresses (an operator allows internal ones with "
                "webhook_allow_private)",
                details={"reason": "internal_destination", "host": host, "address": address},
            )


def set_webhook(
    tournament: Tournament,
    model_id: int,
    url: str | None,
    *,
    owner: int,
    allow_private: bool,
) -> WebhookInfo | None:
    """Set (``None`` or blank: remove) ``owner``'s model's webhook: an http(s) URL must be
    a public destination (:func:`check_destination`); the core then checks the URL itself
    (scheme, length) and stores it, with a new signing secret when the URL changes."""
    text = (url or "").strip()
    if urlsplit(text).scheme in ("http", "https"):  # other schemes: the core refuses them
        check_destination(text, allow_private=allow_private)
    return tournament.webhooks.set(model_id, text or None, owner=owner)
