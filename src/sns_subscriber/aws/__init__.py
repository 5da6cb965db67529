"""The AWS side: boto3 clients, SQS pollers, subscription management, dead letters, Budgets.

Nothing here is imported by ``import sns_subscriber``; boto3 is imported on first use.
"""
