"""GraphQL APIs: `sandlot mock schema.graphql`, stateless and stateful (docs/graphql.md).

- schema.py: load SDL files, a URL, a ConfigMap or an introspection result; merge duplicates;
- values.py: values by field name and type, through the REST generator;
- model.py: what the schema means for state (entities, mutations by naming, connections);
- engine.py: parse, validate and execute with custom resolvers (graphql-core);
- http.py: GraphQL over HTTP, the explorer page, the surface the stages above see;
- stage.py: the stateless last step (the stateful one is state/graphql.py);
- subscriptions.py: graphql-transport-ws, fed by mutations and the virtual clock.
"""
