"""The OpenAPI document: every request and response body, described from msgspec Structs."""
