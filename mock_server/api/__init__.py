"""AWeber's v1 API: one handler module per resource, with the HTTP seam, views and OpenAPI fragments."""
