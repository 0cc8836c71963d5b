"""The tokens app's REST API resources (DESIGN.md section 4a), built on the shared machinery of ``portal.api``
(read its docstring): APIs and their documents, publications, consumer apps; the token service."""
