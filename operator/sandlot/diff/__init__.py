"""Breaking-change detection between two API descriptions: `sandlot diff OLD NEW`.

A pure package: it reads specs through the spec-loading layer (sandlot.openapi.loader, .sourcemap)
and knows no HTTP server and no argv. `rules` holds every rule (id, level, meaning, message);
`inputs` reads OLD and NEW; `openapi` and `schemas` walk two OpenAPI documents, `graphql`
compares two SDL schemas through graphql-core; `formats` renders the changes; `run` ties them
together for cli.py. docs/drift.md is the user's guide.
"""
