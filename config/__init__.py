"""pursuit's configuration: schema, defaults, loading and validation."""
