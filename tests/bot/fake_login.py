"""A fake of the Bot Framework's sign-in services on loopback, over HTTPS with its own certificate.

Two remote services, as the bot meets them in production:

- the channel's OpenID configuration and signing keys (``login.botframework.com``): the bot
  fetches them to check the token on every activity Teams posts. The keys carry
  ``endorsements``, the channels each key may sign for, as Microsoft's do.
- the Entra ID token endpoint (``login.microsoftonline.com``): the bot trades its app id and
  password for the token it sends its replies with (OAuth client credentials, through MSAL).

``sign`` makes a Bot Framework channel token with the fake's key, as the Teams service would.

The server runs on a thread of its own with its own event loop: the SDK fetches the keys, and
MSAL the token, with blocking ``requests`` calls on the bot's event loop, so a server on that
same loop could never answer them. MSAL insists on an ``https`` authority, hence the
certificate; point ``REQUESTS_CA_BUNDLE`` at ``ca_file`` so ``requests`` trusts it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import itertools
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://api.botframework.com"  # what the Bot Framework puts in a channel token's iss
KEY_ID = "bf-teams-key"
WEBCHAT_KEY_ID = "bf-webchat-key"  # a real key of the fake's, endorsed for Web Chat only
TENANT = "botframework.com"  # the tenant multi-tenant bots get their token from


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One client-credentials request the bot made (its secret kept out)."""

    client_id: str
    scope: str
    grant_type: str
    had_secret: bool


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    public = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**public, "kid": kid, "use": "sig", "endorsements": endorsements}


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = _rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "fake-login.pem"
    key_file = directory / "fake-login.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@web.middleware
async def _one_request_per_connection(request: web.Request, handler: Any) -> web.StreamResponse:
    # MSAL's session would keep its connection open past the test; a TLS connection still open
    # when this loop stops is never closed (an unclosed-transport warning at exit).
    response = await handler(request)
    response.force_close()
    return response


class FakeLogin:
    def __init__(self, directory: Path) -> None:
        self.key = _rsa_key()
        self.webchat_key = _rsa_key()
        self.keys = [
            _jwk(self.key, KEY_ID, ["msteams", "emulator"]),
            _jwk(self.webchat_key, WEBCHAT_KEY_ID, ["webchat"]),
        ]
        self.ca_file, self._key_file = _self_signed(directory)
        self.token_requests: list[TokenRequest] = []
        self.key_fetches = 0
        self.issued: set[str] = set()
        self._tokens = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.base = ""

    # -- what a test points the bot at ------------------------------------------------------

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/v1/.well-known/openidconfiguration"

    @property
    def login_url(self) -> str:
        """The token authority, tenant included (as PARTNERBOT_TEAMS_LOGIN_URL takes it)."""
        return f"{self.base}/{TENANT}"

    def sign(
        self,
        *,
        audience: str,
        service_url: str,
        issuer: str = ISSUER,
        lifetime: float = 3600,
        key: rsa.RSAPrivateKey | None = None,
        kid: str = KEY_ID,
    ) -> str:
        """A channel token as the Bot Framework signs it (RS256, the claims it sends)."""
        now = int(time.time())
        claims = {
            "serviceurl": service_url,
            "nbf": min(now, now + int(lifetime)) - 300,
            "exp": now + int(lifetime),
            "iss": issuer,
            "aud": audience,
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid})

    # -- the server ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    def close(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application(middlewares=[_one_request_per_connection])
        app.router.add_get("/v1/.well-known/openidconfiguration", self._openid_configuration)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        app.router.add_get(f"/{TENANT}/v2.0/.well-known/openid-configuration", self._tenant)
        app.router.add_post(f"/{TENANT}/oauth2/v2.0/token", self._token)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, self._key_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"https://127.0.0.1:{port}"

    async def _openid_configuration(self, request: web.Request) -> web.Response:
        # The fields login.botframework.com serves; the SDK reads only jwks_uri.
        return web.json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": f"{self.base}/v1/.well-known/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self.key_fetches += 1
        return web.json_response({"keys": self.keys})

    async def _tenant(self, request: web.Request) -> web.Response:
        # Entra ID's tenant discovery document, as MSAL reads it.
        authority = f"{self.base}/{TENANT}"
        return web.json_response(
            {
                "issuer": f"{self.base}/{TENANT}/v2.0",
                "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
                "token_endpoint": f"{authority}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        form = parse_qs(await request.text())
        self.token_requests.append(
            TokenRequest(
                client_id=form.get("client_id", [""])[0],
                scope=form.get("scope", [""])[0],
                grant_type=form.get("grant_type", [""])[0],
                had_secret=bool(form.get("client_secret", [""])[0]),
            )
        )
        token = f"bot-token-{next(self._tokens)}"
        self.issued.add(token)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }
        )
