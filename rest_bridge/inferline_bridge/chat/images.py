"""Chat images from wherever the client points: ``data:`` URIs, http(s) URLs (fetched here,
carefully) and local paths inside the configured folders. The core only ever receives bytes.

Fetching (``outbound``) refuses private, loopback, link-local and reserved addresses unless the
config allows them, and connects only to the addresses it checked, on every hop of a redirect
(three at most). One deadline covers the whole fetch; it stops at the size limit and wants an
image content type. Whatever arrives must decode as an image.
Error messages name the reason, never file contents or internal addresses.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from inferline_bridge import outbound
from inferline_bridge.errors import APIError
from inferline_bridge.settings import BridgeSettings

MAX_REDIRECTS = 3
_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}


def _checked(data: bytes, settings: BridgeSettings, param: str) -> tuple[bytes, str]:
    """The bytes and their MIME type, once they are known to be a readable image."""
    if len(data) > settings.max_image_bytes:
        raise APIError(413, "the image is larger than this server accepts", param=param)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            kind = image.format or ""
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise APIError(
            400, "the image could not be read as PNG, JPEG, WebP or GIF", param=param
        ) from None
    if kind not in _FORMATS:
        raise APIError(400, "the image must be PNG, JPEG, WebP or GIF", param=param)
    return data, _FORMATS[kind]


def _data_uri(uri: str, param: str) -> bytes:
    header, comma, payload = uri.partition(",")
    if not comma or not header.endswith(";base64"):
        raise APIError(400, "a data: image must be base64 (data:image/png;base64,...)", param=param)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise APIError(400, "the data: image is not valid base64", param=param) from None


def read_local(
    path_text: str, folders: tuple[Path, ...], *, param: str, refused: int = 403
) -> bytes:
    """A local image's bytes, only from inside ``folders``; elsewhere is a ``refused`` error."""
    path = Path(path_text).expanduser().resolve()  # symlinks and ../ resolved before the check
    if not any(path.is_relative_to(folder) for folder in folders):
        raise APIError(
            refused,
            "this server may not read images from that place (api.image_folders)",
            param=param,
        )
    try:
        return path.read_bytes()
    except OSError:
        raise APIError(400, "the image file could not be read", param=param) from None


async def _follow(
    client: httpx.AsyncClient, url: str, settings: BridgeSettings, param: str
) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        if urlsplit(url).scheme not in ("http", "https"):
            raise APIError(400, "image URLs must be http(s), data: or an allowed path", param=param)
        async with client.stream("GET", url) as response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("location", ""))
                continue
            if response.status_code != 200:
                raise APIError(
                    400, f"fetching the image failed (HTTP {response.status_code})", param=param
                )
            if not response.headers.get("content-type", "").startswith("image/"):
                raise APIError(400, "the image URL did not answer with an image", param=param)
            body = bytearray()
            async for block in response.aiter_bytes():
                body += block
                if len(body) > settings.max_image_bytes:
                    raise APIError(413, "the image is larger than this server accepts", param=param)
            return bytes(body)
    raise APIError(400, "fetching the image failed (too many redirects)", param=param)


async def _fetch(url: str, settings: BridgeSettings, param: str) -> bytes:
    """The body at ``url``: connect, redirects and body all within one deadline."""
    limit = settings.image_fetch_timeout_s
    try:
        async with (
            asyncio.timeout(limit),
            outbound.client(
                settings.image_url_allowed, limit, settings.image_fetch_proxy
            ) as client,
        ):
            return await _follow(client, url, settings, param)
    except (TimeoutError, httpx.TimeoutException):
        raise APIError(
            400, f"fetching the image took longer than {limit:g} s", param=param
        ) from None
    except outbound.AddressRefused:
        raise APIError(
            403, "the image URL points to an address this server may not fetch", param=param
        ) from None
    except outbound.Unresolved:
        raise APIError(400, "the image URL's host could not be resolved", param=param) from None
    except httpx.HTTPError:
        raise APIError(400, "fetching the image failed (connection error)", param=param) from None


async def load(
    url: str | None, path: str | None, settings: BridgeSettings, param: str
) -> tuple[bytes, str]:
    """The image an ``image_url`` part points at, as checked bytes and a MIME type."""
    if path:
        return _checked(read_local(path, settings.image_folders, param=param), settings, param)
    if not url:
        raise APIError(400, "image_url needs a url (or a path)", param=param)
    if url.startswith("data:"):
        return _checked(_data_uri(url, param), settings, param)
    if url.startswith(("http://", "https://")):
        return _checked(await _fetch(url, settings, param), settings, param)
    if url.startswith("file://"):
        return _checked(
            read_local(unquote(urlsplit(url).path), settings.image_folders, param=param),
            settings,
            param,
        )
    if "://" not in url:
        return _checked(read_local(url, settings.image_folders, param=param), settings, param)
    raise APIError(400, "image URLs must be http(s), data: or an allowed path", param=param)
