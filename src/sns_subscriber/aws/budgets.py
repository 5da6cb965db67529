"""AWS Budgets -> SNS: connect a budget's notifications to a topic, and check where they go.

AWS Budgets publishes only to topics whose access policy lets ``budgets.amazonaws.com``
publish; without it the alert is silently not sent. The statement added here is scoped with
``aws:SourceAccount`` (and ``aws:SourceArn`` on the account's budgets), as the AWS Budgets
documentation recommends, so no other account's budgets can publish to the topic.

A notification has at most one SNS subscriber: ``connect`` replaces another topic there (and
says so) rather than failing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = ["BUDGETS_SID", "NotificationRow", "budgets_statement", "check", "connect"]

BUDGETS_SID: Final = "snssubscriberbudgetspublish"


def budgets_statement(topic_arn: str, account_id: str) -> dict[str, Any]:
    return {
        "Sid": BUDGETS_SID,
        "Effect": "Allow",
        "Principal": {"Service": "budgets.amazonaws.com"},
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": {
            "StringEquals": {"aws:SourceAccount": account_id},
            "ArnLike": {"aws:SourceArn": f"arn:aws:budgets::{account_id}:*"},
        },
    }


def _describe(notification: dict[str, Any]) -> str:
    kind = notification.get("ThresholdType", "PERCENTAGE")
    unit = "%" if kind == "PERCENTAGE" else ""
    operator = {"GREATER_THAN": ">", "LESS_THAN": "<", "EQUAL_TO": "="}.get(
        notification.get("ComparisonOperator", ""), "?"
    )
    return (
        f"{notification.get('NotificationType', '?')} {operator} {notification.get('Threshold', '?')}{unit}"
    )


def _notifications(budgets: Any, account_id: str, budget: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        options: dict[str, Any] = {"AccountId": account_id, "BudgetName": budget}
        if token:
            options["NextToken"] = token
        page = budgets.describe_notifications_for_budget(**options)
        found.extend(page.get("Notifications", []))
        token = page.get("NextToken")
        if not token:
            return found


def _subscribers(
    budgets: Any, account_id: str, budget: str, notification: dict[str, Any]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        options: dict[str, Any] = {
            "AccountId": account_id,
            "BudgetName": budget,
            "Notification": notification,
        }
        if token:
            options["NextToken"] = token
        page = budgets.describe_subscribers_for_notification(**options)
        found.extend(page.get("Subscribers", []))
        token = page.get("NextToken")
        if not token:
            return found


def connect(sns: Any, budgets: Any, *, account_id: str, budget: str, topic_arn: str) -> list[str]:
    """Let Budgets publish to the topic and make every notification of ``budget`` send to it;
    return what was done (empty: already connected)."""
    done: list[str] = []
    attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    policy: dict[str, Any] = (
        json.loads(attributes["Policy"])
        if attributes.get("Policy")
        else {"Version": "2012-10-17", "Statement": []}
    )
    statement = policy.get("Statement", [])
    present: list[dict[str, Any]] = [statement] if isinstance(statement, dict) else list(statement)
    wanted = budgets_statement(topic_arn, account_id)
    if wanted not in present:
        policy["Statement"] = [s for s in present if s.get("Sid") != BUDGETS_SID] + [wanted]
        sns.set_topic_attributes(
            TopicArn=topic_arn, AttributeName="Policy", AttributeValue=json.dumps(policy)
        )
        done.append("topic policy: allow budgets.amazonaws.com to publish (this account only)")
    notifications = _notifications(budgets, account_id, budget)
    if not notifications:
        done.append("the budget has no notifications: add a threshold alert to it first")
    new = {"SubscriptionType": "SNS", "Address": topic_arn}
    for notification in notifications:
        sns_subscribers = [
            s
            for s in _subscribers(budgets, account_id, budget, notification)
            if s["SubscriptionType"] == "SNS"
        ]
        if any(s["Address"] == topic_arn for s in sns_subscribers):
            continue
        if sns_subscribers:  # one SNS subscriber per notification: replace it
            budgets.update_subscriber(
                AccountId=account_id,
                BudgetName=budget,
                Notification=notification,
                OldSubscriber=sns_subscribers[0],
                NewSubscriber=new,
            )
            done.append(f"{_describe(notification)}: replaced topic {sns_subscribers[0]['Address']}")
        else:
            budgets.create_subscriber(
                AccountId=account_id, BudgetName=budget, Notification=notification, Subscriber=new
            )
            done.append(f"{_describe(notification)}: added the topic")
    return done


@dataclass
class NotificationRow:
    budget: str
    notification: str
    topics: list[str] = field(default_factory=list)
    accepted_by: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.accepted_by)


def check(budgets: Any, *, account_id: str, accepted_by: Callable[[str], list[str]]) -> list[NotificationRow]:
    """Every budget's notifications, their SNS topics, and which endpoints or queues accept
    them (``accepted_by(topic_arn)``). A budget without notifications is one row too."""
    rows: list[NotificationRow] = []
    for page in budgets.get_paginator("describe_budgets").paginate(AccountId=account_id):
        for budget in page.get("Budgets", []):
            name = budget["BudgetName"]
            notifications = _notifications(budgets, account_id, name)
            if not notifications:
                rows.append(NotificationRow(name, "(no notifications)"))
            for notification in notifications:
                row = NotificationRow(name, _describe(notification))
                for subscriber in _subscribers(budgets, account_id, name, notification):
                    if subscriber["SubscriptionType"] == "SNS":
                        row.topics.append(subscriber["Address"])
                        row.accepted_by.extend(accepted_by(subscriber["Address"]))
                rows.append(row)
    return rows
