"""The one verification path: every decision about a key (API auth, verify endpoint, CLI,
gateway) is made here. Decisions are cached in memory and kept honest by the change feed."""

from keyward.core.verdicts import KeyCode, Verdict
from keyward.verifier.follower import FeedFollower
from keyward.verifier.verifier import Verifier

__all__ = ["FeedFollower", "KeyCode", "Verdict", "Verifier"]
