"""A download's body, read from the connection with as little work per byte as possible.

Through ``Response.iter_raw`` every socket read of an HTTP/1.1 body passes through h11: it is
appended to h11's buffer, sliced out of it and copied into ``bytes`` again, three copies of
every byte made while holding the GIL, which the hashing and writing threads need too. On
the loopback benchmark (512 MiB, two cores busy with other work) that path cost 1.78 s of CPU
per GiB and reached 0.48 of curl's throughput; reading the rest of the body from the
connection's network stream cost 1.36 s per GiB and reached 0.81 (median of 11 pairs each).

Once h11 has parsed the headers and handed over the part of the body that arrived with them,
the rest of an HTTP/1.1 body with a ``Content-Length`` is simply the connection's next bytes.
``BodyReader`` reads them from the network stream httpcore opened for the request (the
``network_stream`` response extension): TLS, certificate checks and proxy tunnels are those of
huggingface_hub's client, since the bytes come through that stream, never the bare socket.
The client's read timeout still applies per read, and a closed or stalled connection raises
httpx2's own exceptions, as ``iter_raw`` would.

h11 then believes the body unfinished, so httpcore closes the connection when the response is
closed rather than handing it to another request: nothing can read a connection left mid-body.

Anything else (HTTP/2, chunked or compressed bodies, a body that came whole with the headers,
bytes still buffered in h11, an httpcore2 laid out differently) is read through ``iter_raw``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpcore2
import httpx2

from desktop_app.core.hub.session import http11_connection

__all__ = ["BodyReader"]

# Bytes asked per read: larger reads cost more (a fresh 4 MiB buffer per read is paid in page
# faults: 0.45 s of CPU per 512 MiB against 0.12-0.25 s at 1 MiB on the loopback benchmark).
READ_SIZE = 1024 * 1024


class BodyReader:
    """Iterate over the raw (undecoded) body of ``resp``; see the module doc.

    ``direct_bytes`` counts the bytes read straight from the network stream (0 when the whole
    body came through ``iter_raw``).
    """

    def __init__(self, resp: httpx2.Response, timeout: float | None) -> None:
        self.resp = resp
        self.timeout = timeout  # seconds without a byte before httpx2.ReadTimeout
        self.direct_bytes = 0

    def __iter__(self) -> Iterator[bytes]:
        stream, length = self._direct_stream()
        chunks = self.resp.iter_raw()
        received = 0
        try:
            for chunk in chunks:
                received += len(chunk)
                yield chunk
                if stream is not None and received < length and self._h11_drained():
                    break
            else:
                return  # iter_raw read the whole body (the connection may be reused)
            yield from self._read_rest(stream, length - received)
        finally:
            # Closing the response's generator closes httpcore's side: the connection is
            # closed unless the body was read to its end through it.
            close = getattr(chunks, "close", None)  # a generator, typed as an Iterator
            if close is not None:
                close()

    def _direct_stream(self) -> tuple[Any, int]:
        """The network stream and the body's length when the rest of the body may be read
        from it, else (None, 0)."""
        resp = self.resp
        headers = resp.headers
        if resp.http_version != "HTTP/1.1" or "Transfer-Encoding" in headers:
            return None, 0
        if headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
            return None, 0
        try:
            length = int(headers.get("Content-Length", ""))
        except ValueError:
            return None, 0
        stream = resp.extensions.get("network_stream")
        if length < 0 or not callable(getattr(stream, "read", None)):
            return None, 0
        if not hasattr(getattr(http11_connection(resp), "_h11_state", None), "trailing_data"):
            return None, 0
        return stream, length

    def _h11_drained(self) -> bool:
        """h11 holds no byte of the body that it has not handed over, and saw no EOF."""
        state = getattr(http11_connection(self.resp), "_h11_state", None)
        trailing = getattr(state, "trailing_data", None)
        return isinstance(trailing, tuple) and trailing == (b"", False)

    def _read_rest(self, stream: Any, remaining: int) -> Iterator[bytes]:
        request = self.resp.request
        while remaining > 0:
            try:
                data: bytes = stream.read(min(READ_SIZE, remaining), timeout=self.timeout)
            except httpcore2.TimeoutException as exc:
                raise httpx2.ReadTimeout(str(exc) or "read timed out", request=request) from exc
            except httpcore2.NetworkError as exc:
                raise httpx2.ReadError(str(exc) or "read failed", request=request) from exc
            if not data:
                raise httpx2.RemoteProtocolError(
                    f"connection closed with {remaining} bytes of the body still to come",
                    request=request,
                )
            remaining -= len(data)
            self.direct_bytes += len(data)
            yield data
