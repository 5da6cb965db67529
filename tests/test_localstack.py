"""LocalStack: trusted only when asked, with a warning, and only for its own host."""

from __future__ import annotations

from pathlib import Path

import pytest

from sns_subscriber import (
    InsecurePolicyWarning,
    UntrustedCertificateURLError,
    VerificationPolicy,
    Verifier,
    parse,
)
from sns_subscriber.service.config import load_config
from sns_subscriber.testing import SNSTestKit

from .support.https_server import Route, serve_http

TOPIC = "arn:aws:sns:us-east-1:000000000000:budget-alerts"


def test_localstack_certificate_url_trusted_only_when_enabled(sns_kit: SNSTestKit) -> None:
    path = f"/_aws/sns/{sns_kit.cert_filename}"
    with serve_http(
        {path: Route(200, {"Content-Type": "application/x-pem-file"}, sns_kit.certificate_pem)}
    ) as server:
        host = f"127.0.0.1:{server.port}"
        fields = sns_kit.notification(TOPIC, "from localstack")
        fields["SigningCertURL"] = f"http://{host}{path}"
        message = parse(sns_kit.body(sns_kit.sign(fields)))
        policy = VerificationPolicy(allowed_topic_arns=(TOPIC,))
        with pytest.raises(UntrustedCertificateURLError):
            Verifier(policy).verify(message)
        with pytest.warns(InsecurePolicyWarning, match="development only"):
            trusting = Verifier(policy, trusted_url_hosts=frozenset({host}))
        assert trusting.verify(message) is message
        assert server.hits[path] == 1
        # The trust is for that host only: another port is still refused.
        other = dict(fields, SigningCertURL=f"http://127.0.0.1:1{path}")
        with pytest.raises(UntrustedCertificateURLError):
            trusting.verify(parse(sns_kit.body(other)))


def test_localstack_setting_warns_at_start(tmp_path: Path) -> None:
    from sns_subscriber.service.runtime import build_runtime

    config = load_config(
        data={
            "store": {"url": f"sqlite:///{tmp_path / 'inbox.db'}"},
            "localstack": {"enabled": True, "host": "localhost.localstack.cloud:4566"},
            "endpoints": [{"path": "/sns", "topics": [TOPIC], "confirm": "url"}],
        }
    )
    with pytest.warns(InsecurePolicyWarning):
        runtime = build_runtime(config)
    try:
        verifier = runtime.subscribers["/sns"].verifier
        assert verifier.trusted_url_hosts == frozenset({"localhost.localstack.cloud:4566"})
    finally:
        runtime.close()
