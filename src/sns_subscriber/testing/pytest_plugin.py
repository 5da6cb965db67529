"""pytest fixtures for users testing their SNS handlers (registered as a pytest11 plugin).

Fixtures: ``sns_kit`` (a :class:`~sns_subscriber.testing.SNSTestKit`, one per session),
``sns_cert_dir`` (a directory holding the kit's certificate) and ``sns_verifier`` (a
``Verifier`` trusting the kit for ``TEST_TOPIC_ARN``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sns_subscriber.testing import SNSTestKit
    from sns_subscriber.verification import Verifier


@pytest.fixture(scope="session")
def sns_kit() -> SNSTestKit:
    from sns_subscriber.testing import default_kit  # noqa: PLC0415 - keep plugin import cheap

    return default_kit()


@pytest.fixture(scope="session")
def sns_cert_dir(sns_kit: SNSTestKit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sns_kit.write_cert_dir(tmp_path_factory.mktemp("sns-certs"))


@pytest.fixture
def sns_verifier(sns_kit: SNSTestKit, sns_cert_dir: Path) -> Verifier:
    from sns_subscriber.testing import TEST_TOPIC_ARN  # noqa: PLC0415

    return sns_kit.verifier([TEST_TOPIC_ARN], cert_dir=sns_cert_dir)
