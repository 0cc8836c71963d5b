"""REST API resources for key material (DESIGN.md section 4a): keystores, truststores, key profiles, crypto
objects and expiring certificates, under /api/v1/orgs/{org}/. The machinery is portal.api's."""
