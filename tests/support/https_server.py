"""The local HTTPS server with a throwaway CA lives in the package
(:mod:`sns_subscriber.testing.https_server`) so that the benchmarks use it too without
importing the tests; the tests keep importing it from here."""

from sns_subscriber.testing.https_server import *  # noqa: F403
