"""VerificationPolicy: the allow-list is required and its patterns stay inside one field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sns_subscriber import ConfigurationError, InsecurePolicyWarning, VerificationPolicy
from sns_subscriber.certs import expected_certificate_name, sns_host
from sns_subscriber.messages import TopicArn


def test_allow_list_is_required() -> None:
    with pytest.raises(ConfigurationError, match="allowed_topic_arns"):
        VerificationPolicy()


def test_allow_any_topic_warns() -> None:
    with pytest.warns(InsecurePolicyWarning):
        policy = VerificationPolicy(allow_any_topic=True)
    assert policy.topic_allowed("arn:aws:sns:eu-west-1:999999999999:anything")


def test_a_single_string_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        VerificationPolicy(allowed_topic_arns="arn:aws:sns:us-east-1:123456789012:t")


@pytest.mark.parametrize(
    "bad", ["alerts", "arn:aws:sqs:us-east-1:123456789012:q", "arn:aws:sns:us-east-1:1:t t"]
)
def test_bad_topic_entries_are_configuration_errors(bad: str) -> None:
    with pytest.raises(ConfigurationError):
        VerificationPolicy(allowed_topic_arns=(bad,))


def test_wildcards_match_within_one_field_only() -> None:
    policy = VerificationPolicy(allowed_topic_arns=("arn:aws:sns:*:123456789012:budget-*",))
    assert policy.topic_allowed("arn:aws:sns:eu-west-1:123456789012:budget-team-a")
    assert not policy.topic_allowed("arn:aws:sns:eu-west-1:999999999999:budget-x")
    # "*" in the region field must not swallow ":<other account>:" to reach a matching name
    assert not policy.topic_allowed("arn:aws:sns:eu-west-1:999999999999:x:123456789012:budget-x")
    assert not policy.topic_allowed("arn:aws:sns:eu-west-1:123456789012:other")


def test_exact_arns() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:alerts"
    policy = VerificationPolicy(allowed_topic_arns=[arn])
    assert policy.allowed_topic_arns == (arn,)
    assert policy.topic_allowed(arn)
    assert not policy.topic_allowed(arn + "2")


@pytest.mark.parametrize("versions", [frozenset(), frozenset({"3"})])
def test_signature_versions_validated(versions: frozenset[str]) -> None:
    with pytest.raises(ConfigurationError):
        VerificationPolicy(
            allowed_topic_arns=("arn:aws:sns:us-east-1:123456789012:t",),
            signature_versions=versions,
        )


def test_negative_windows_refused() -> None:
    with pytest.raises(ConfigurationError, match="max_age"):
        VerificationPolicy(
            allowed_topic_arns=("arn:aws:sns:us-east-1:123456789012:t",), max_age=timedelta(-1)
        )


@pytest.mark.parametrize(
    ("region", "name"),
    [
        ("us-east-1", "sns.amazonaws.com"),
        ("eu-west-1", "sns.amazonaws.com"),
        ("cn-north-1", "sns-cn-north-1.amazonaws.com.cn"),
        ("cn-northwest-1", "sns-cn-northwest-1.amazonaws.com.cn"),
        ("cn-south-9", "sns.amazonaws.com.cn"),
        ("us-gov-west-1", "sns-us-gov-west-1.amazonaws.com"),
        ("us-gov-east-1", "sns-us-gov-west-1.amazonaws.com"),
        ("me-south-1", "sns-signing.me-south-1.amazonaws.com"),
        ("ap-southeast-7", "sns-signing.ap-southeast-7.amazonaws.com"),
        ("us-iso-east-1", "sns-us-iso-east-1.c2s.ic.gov"),
        ("us-isob-east-1", "sns-us-isob-east-1.sc2s.sgov.gov"),
        ("us-isof-south-1", "sns-signing.us-isof-south-1.csp.hci.ic.gov"),
        ("eu-isoe-west-1", "sns-signing.eu-isoe-west-1.cloud.adc-e.uk"),
        ("eusc-de-east-1", "sns-signing.eusc-de-east-1.amazonaws.eu"),
    ],
)
def test_expected_certificate_names(region: str, name: str) -> None:
    assert expected_certificate_name(region) == name


@pytest.mark.parametrize(
    ("arn", "host"),
    [
        ("arn:aws:sns:us-east-1:123456789012:t", "sns.us-east-1.amazonaws.com"),
        ("arn:aws-cn:sns:cn-north-1:123456789012:t", "sns.cn-north-1.amazonaws.com.cn"),
        ("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t", "sns.us-gov-west-1.amazonaws.com"),
        ("arn:aws-iso:sns:us-iso-east-1:123456789012:t", "sns.us-iso-east-1.c2s.ic.gov"),
        ("arn:aws-iso-b:sns:us-isob-east-1:123456789012:t", "sns.us-isob-east-1.sc2s.sgov.gov"),
        ("arn:aws:sns:cn-north-1:123456789012:t", None),
        ("arn:aws-cn:sns:us-east-1:123456789012:t", None),
        ("arn:aws-us-gov:sns:us-east-1:123456789012:t", None),
    ],
)
def test_sns_host_per_partition(arn: str, host: str | None) -> None:
    topic = TopicArn.parse(arn)
    assert topic is not None
    assert sns_host(topic) == host
