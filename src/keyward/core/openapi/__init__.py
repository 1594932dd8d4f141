"""OpenAPI, pure: loading and checking documents, converting 2.0 <-> 3.0 and 3.1 -> 3.0,
indexing operations, comparing versions, and injecting keyward's key schemes for export.

Documents are plain JSON-like dicts (`Document`). Nothing here does I/O: remote `$ref`s are
refused, never fetched.
"""

from typing import Any

Document = dict[str, Any]
