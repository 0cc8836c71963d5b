"""REST API resources of the tokens app (DESIGN.md section 4a), one module per resource; routes in ``urls``."""
