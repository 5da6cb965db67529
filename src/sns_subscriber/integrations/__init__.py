"""Thin framework adapters: request -> InboundRequest, Outcome -> response, nothing else.

Each module imports its framework; import the one you use (``sns_subscriber.integrations.flask``,
``.starlette``, ``.fastapi``, ``.django``).
"""
