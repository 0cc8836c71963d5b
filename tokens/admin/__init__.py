"""The token-API console: APIs (create, import, the assembly editor, publish), publications (states, the
test page), and consumer apps (credentials, subscriptions), one module each; ``assembly_editor`` holds the
editor's actions on an API page, ``common`` what the three share.

Views stay thin: a form collects the input, ``tokens.editor`` edits the document and ``tokens.services``
saves and publishes it. Every custom view checks its permission first (``require_permissions``): the admin
checks only its own pages, and an auditor must be able to look at everything and change nothing.
"""

from tokens.admin import api_properties, apis, consumer_apps, publications
from tokens.admin.common import masked_client_id, may_read_client_ids

__all__ = ["api_properties", "apis", "consumer_apps", "masked_client_id", "may_read_client_ids", "publications"]
