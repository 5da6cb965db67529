"""The baseline of the ingest benchmarks: a bare Starlette app that does the least an SNS
receiver must do, and nothing more.

Per request it reads the body, ``json.loads`` it, builds SNS's string to sign from the
parsed fields and verifies ONE RSA signature (SHA256withRSA) with the signing key, then
answers 200. No strict parsing, no policy, no storage. It runs under uvicorn with exactly
the settings of ``sns-subscriber serve`` (see ``sns_subscriber/service/server.py``).

    python -m bench.baseline_app --port 8090 --public-key cert.pem
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")


def create_app(public_key: RSAPublicKey, path: str = "/budget-subscriber") -> Starlette:
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    async def receive(request: Request) -> Response:
        body = await request.body()
        fields = json.loads(body)
        data = "".join(f"{k}\n{fields[k]}\n" for k in _KEYS if k in fields).encode("utf-8")
        try:
            public_key.verify(base64.b64decode(fields["Signature"]), data, pkcs1, sha256)
        except InvalidSignature:
            return Response(status_code=403)
        return Response(status_code=200)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route(path, receive, methods=["POST"]), Route("/healthz", healthz)])


def load_public_key(pem_file: Path) -> RSAPublicKey:
    key = x509.load_pem_x509_certificate(pem_file.read_bytes()).public_key()
    if not isinstance(key, RSAPublicKey):
        raise SystemExit(f"{pem_file} does not hold an RSA certificate")
    return key


def main() -> None:
    import uvicorn  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-key", type=Path, required=True, help="PEM certificate of the signer")
    args = parser.parse_args()
    from sns_subscriber.service.config import load_config  # noqa: PLC0415
    from sns_subscriber.service.server import uvicorn_config  # noqa: PLC0415

    app = create_app(load_public_key(args.public_key))
    # The same server as `sns-subscriber serve` with its default settings (parser, event loop,
    # connection limits and deadlines).
    config = uvicorn_config(app, load_config(data={}, environ={}), host="127.0.0.1", port=args.port)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
