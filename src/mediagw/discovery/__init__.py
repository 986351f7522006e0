"""The discovery service: natural-language search, autocomplete, content details, similar titles."""
