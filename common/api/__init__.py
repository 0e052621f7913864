"""The management API's machinery both tiers use: typed routes that generate the OpenAPI document,
and the schemas every list shares."""
