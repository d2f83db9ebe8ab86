"""Request and response schemas (marshmallow); they also generate the OpenAPI spec."""
