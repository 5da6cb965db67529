"""`import sns_subscriber` stays light: no web framework, AWS SDK or database driver."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["flask", "django", "starlette", "fastapi", "uvicorn", "boto3", "botocore", "psycopg", "psycopg_pool",
         "jinja2", "click", "prometheus_client", "werkzeug", "aiosmtpd", "moto"]  # fmt: skip


def test_import_is_light() -> None:
    code = (
        "import sys, json, sns_subscriber, sns_subscriber.producers, sns_subscriber.stores; "
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


def test_public_api_is_sorted_and_complete() -> None:
    import sns_subscriber

    assert sns_subscriber.__all__ == sorted(sns_subscriber.__all__)
    for name in sns_subscriber.__all__:
        assert hasattr(sns_subscriber, name), name
