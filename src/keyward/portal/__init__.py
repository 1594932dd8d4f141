"""The portal: server-rendered pages where members sign in and manage what is theirs.

It is served beside the management API (`install`) and calls the same domain services, which
apply the same ownership rule as REST and the CLI.
"""

from keyward.portal.app import install

__all__ = ["install"]
